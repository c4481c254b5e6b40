"""An S3 object's bytes as records, one per event, in the stream's format (JSON lines, CSV or
Parquet; gunzipped first when the key ends in .gz). A record that cannot be read as a JSON
object carries the reason instead, so it is quarantined, never dropped."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import gzip
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sluice.events.models import FileFormat

#: the longest raw text kept of a record that could not be read (the quarantine table's ``raw``)
MAX_RAW = 100_000


@dataclass(frozen=True)
class Record:
    """One event as read from its object: ``number`` is its line (JSON lines, CSV) or row
    (Parquet), from 1; ``event`` is None when ``problem`` says why it could not be read."""

    number: int
    raw: str
    event: dict[str, Any] | None
    problem: str | None = None


def records(body: bytes, key: str, fmt: FileFormat, schema: Mapping[str, Any]) -> Iterator[Record]:
    """The object's records. ``schema`` (the latest version) types CSV cells."""
    if key.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            yield Record(0, "", None, f"the object is not gzip data: {exc}")
            return
    if fmt is FileFormat.PARQUET:
        yield from _parquet(body)
        return
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Record(0, "", None, f"the object is not UTF-8 text (byte {exc.start})")
        return
    yield from (_jsonl(text) if fmt is FileFormat.JSONL else _csv(text, schema))


def _jsonl(text: str) -> Iterator[Record]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(number, line[:MAX_RAW], None, f"not JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(value, dict):
            yield Record(number, line[:MAX_RAW], None, f"not a JSON object but {type(value).__name__}")
            continue
        yield Record(number, line[:MAX_RAW], value)


def _cell(value: str, declared: Any) -> Any:
    """A CSV cell as the schema's type for its column: an empty cell is null; a cell that does
    not convert stays text, so the schema check names the column."""
    types = declared if isinstance(declared, list) else [declared]
    if value == "":
        return None
    for kind in types:
        try:
            if kind == "integer":
                return int(value)
            if kind == "number":
                return float(value) if any(c in value for c in ".eE") else int(value)
            if kind == "boolean" and value.lower() in ("true", "false"):
                return value.lower() == "true"
        except ValueError:
            continue
    return value


def _csv(text: str, schema: Mapping[str, Any]) -> Iterator[Record]:
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    assert isinstance(properties, dict)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(reader.line_num, "", None, f"not CSV: {exc}")
            continue
        raw = ",".join(row)[:MAX_RAW]
        if not any(row):
            continue
        if len(row) != len(header):
            yield Record(reader.line_num, raw, None, f"{len(row)} cells; the header has {len(header)}")
            continue
        event = {
            name: _cell(value, (properties.get(name) or {}).get("type"))
            for name, value in zip(header, row, strict=True)
        }
        yield Record(reader.line_num, raw, event)


def _plain(value: Any) -> Any:
    """A Parquet value as JSON has it: times as ISO 8601, decimals as numbers, bytes as base64."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def _parquet(body: bytes) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(body))
    except (pa.ArrowException, OSError, ValueError) as exc:
        yield Record(0, "", None, f"not a Parquet file: {str(exc)[:300]}")
        return
    for number, row in enumerate(table.to_pylist(), 1):
        event = {str(k): _plain(v) for k, v in row.items()}
        yield Record(number, json.dumps(event, default=str)[:MAX_RAW], event)
