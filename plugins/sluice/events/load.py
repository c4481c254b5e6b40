"""Load a stream: every object under its prefix that the ledger does not hold (key and ETag),
each checked event by event and written with its ledger row in one transaction.

Whatever triggered the run (a schedule, an S3 notification, a retry, a rerun) it loads exactly
the objects not yet in the ledger, so a notification delivered twice loads once, and a load that
died mid-way loads its object again whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sluice.errors import EventLoadError, first_line
from sluice.events.config import StreamFile
from sluice.events.event_check import EventChecker
from sluice.events.ledger import S3Object, check_schema_hashes, ensure_tables, loaded_objects, write_object
from sluice.events.object_formats import records
from sluice.events.warehouse import Warehouse

#: the biggest object read into memory; event files are written small and often
MAX_OBJECT_BYTES = 512 << 20


@dataclass
class LoadResult:
    objects: int = 0
    good_rows: int = 0
    bad_rows: int = 0
    skipped: int = 0  # already in the ledger, or claimed by another load meanwhile

    def summary(self, stream: str) -> str:
        return (
            f"{stream}: {self.objects} objects loaded ({self.good_rows} rows, {self.bad_rows} quarantined); "
            f"{self.skipped} already loaded"
        )


def s3_error(exc: Exception) -> tuple[str, str]:
    """botocore's error code and message, without request details."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    return str(error.get("Code", type(exc).__name__)), str(error.get("Message", first_line(exc)))


def list_objects(s3: Any, bucket: str, prefix: str) -> Iterator[S3Object]:
    """Every object under the prefix, in key order (S3 lists in key order); no folder markers."""
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                key = str(item["Key"])
                if not key.endswith("/"):
                    yield S3Object(key, str(item["ETag"]).strip('"'), int(item.get("Size", 0)))
    except Exception as exc:
        code, message = s3_error(exc)
        raise EventLoadError(f"cannot list s3://{bucket}/{prefix}: {code}: {message}") from None


def _body(s3: Any, bucket: str, obj: S3Object) -> bytes | None:
    """The object's bytes as listed (IfMatch: None when it was replaced since)."""
    if obj.size > MAX_OBJECT_BYTES:
        limit = f"the limit is {MAX_OBJECT_BYTES:,}"
        raise EventLoadError(f"s3://{bucket}/{obj.key} is {obj.size:,} bytes; {limit}")
    try:
        response = s3.get_object(Bucket=bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')
        return bytes(response["Body"].read())
    except Exception as exc:
        code, message = s3_error(exc)
        if code in ("PreconditionFailed", "412", "NoSuchKey", "404"):
            return None
        raise EventLoadError(f"cannot read s3://{bucket}/{obj.key}: {code}: {message}") from None


def load_stream(sf: StreamFile, s3: Any, wh: Warehouse, log: Callable[[str], None]) -> LoadResult:
    """Load what landed under the stream's prefix since the last load."""
    stream, result = sf.stream, LoadResult()
    ensure_tables(wh, sf)
    check_schema_hashes(wh, sf)
    checker = EventChecker(stream, sf.schemas)
    latest = sf.schemas[stream.latest]
    done = loaded_objects(wh, sf)
    for obj in list_objects(s3, stream.source.bucket, stream.source.prefix):
        if (obj.key, obj.etag) in done:
            result.skipped += 1
            continue
        body = _body(s3, stream.source.bucket, obj)
        if body is None:
            log(f"{obj.key}: replaced or deleted since it was listed; the next load takes it")
            continue
        checked = checker.check_all(records(body, obj.key, stream.source.format, latest))
        if not write_object(wh, sf, obj, checked):
            result.skipped += 1
            log(f"{obj.key}: loaded meanwhile by another load; skipped")
            continue
        result.objects += 1
        result.good_rows += len(checked.rows)
        result.bad_rows += len(checked.rejected)
        log(f"{obj.key} ({obj.etag}): {len(checked.rows)} rows, {len(checked.rejected)} quarantined")
        for bad in checked.rejected[:3]:
            log(f"  quarantined {obj.key} record {bad.number}: {bad.reason[:200]}")
    log(result.summary(stream.name))
    return result
