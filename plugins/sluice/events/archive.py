# ruff: noqa: S608  -- table names are checked plain names quoted by table_ref(); values are bound
"""Archival: rows older than a stream's hot window leave the warehouse, but only the rows of
objects that are still in S3 as they were loaded (same key, same ETag), so every row deleted
can be read again from its file (warm, then cold storage). The ledger keeps the object's row,
with the rows archived counted, so the object is never loaded again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sluice.errors import EventLoadError
from sluice.events.config import StreamFile
from sluice.events.ledger import ensure_tables, ledger_table
from sluice.events.load import s3_error
from sluice.events.warehouse import Warehouse, table_ref


@dataclass
class ArchiveResult:
    rows: int = 0
    objects: int = 0
    #: objects with rows past the window whose file is gone or changed: their rows stay
    kept: dict[str, str] = field(default_factory=dict)

    def summary(self, stream: str, cutoff: dt.datetime) -> str:
        text = f"{stream}: archived {self.rows} rows of {self.objects} objects"
        text += f" older than {cutoff:%Y-%m-%d %H:%M} UTC"
        if self.kept:
            shown = "; ".join(f"{k}: {why}" for k, why in sorted(self.kept.items())[:5])
            text += f"; kept the rows of {len(self.kept)} objects not safe to delete ({shown})"
        return text


def _in_s3(s3: Any, bucket: str, key: str, etag: str) -> str | None:
    """None when the object is in S3 as loaded; else why its rows must stay."""
    try:
        found = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        code, message = s3_error(exc)
        if code in ("404", "NoSuchKey", "NotFound"):
            return "not in S3"
        raise EventLoadError(f"cannot check s3://{bucket}/{key}: {code}: {message}") from None
    if str(found.get("ETag", "")).strip('"') != etag:
        return "replaced in S3 since it was loaded"
    return None


def archive_stream(
    sf: StreamFile, s3: Any, wh: Warehouse, log: Callable[[str], None], now: dt.datetime | None = None
) -> ArchiveResult:
    stream, result = sf.stream, ArchiveResult()
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=stream.retention.hot_days)
    ensure_tables(wh, sf)
    old = wh.execute(
        f"SELECT _object_key, _object_etag, count(*) FROM {table_ref(stream.raw_table)} "
        "WHERE occurred_at < ? GROUP BY 1, 2 ORDER BY 1, 2",
        (cutoff,),
    )
    safe: list[tuple[str, str, int]] = []
    for key, etag, count in old:
        why = _in_s3(s3, stream.source.bucket, str(key), str(etag))
        if why is None:
            safe.append((str(key), str(etag), int(count)))
        else:
            result.kept[str(key)] = why
    with wh.transaction():
        for key, etag, _ in safe:
            deleted = wh.execute(
                f"DELETE FROM {table_ref(stream.raw_table)} WHERE occurred_at < ? AND _object_key = ? "
                "AND _object_etag = ? RETURNING 1",
                (cutoff, key, etag),
            )
            wh.execute(
                f"UPDATE {table_ref(ledger_table(sf))} SET archived_rows = archived_rows + ? "
                "WHERE stream = ? AND object_key = ? AND etag = ?",
                (len(deleted), sf.name, key, etag),
            )
            result.rows += len(deleted)
            result.objects += 1
    log(result.summary(stream.name, cutoff))
    return result
