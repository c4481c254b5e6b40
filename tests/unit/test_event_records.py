"""An object's bytes as events, and each event against its schema version: what is loaded, and
what is quarantined with which reason."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sluice.events.event_check import EventChecker, Rejected, Row
from sluice.events.models import EventStream, FileFormat
from sluice.events.object_formats import records

V1 = {
    "type": "object",
    "required": ["id", "at", "amount"],
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "string"},
        "amount": {"type": "number"},
        "ok": {"type": "boolean"},
        "v": {"type": "integer"},
    },
}
V2 = {**V1, "required": ["id", "at", "amount", "ok"]}


def stream(version_field: str | None = "v") -> EventStream:
    return EventStream.model_validate(
        {
            "name": "orders",
            "source": {"bucket": "my-events", "prefix": "o/", "format": "jsonl"},
            "event_time_field": "at",
            "version_field": version_field,
            "schemas": [{"version": 1, "file": "v1.json"}, {"version": 2, "file": "v2.json"}],
            "raw_table": "raw.orders",
            "retention": {"hot_days": 1, "warm_days": 1, "cold_days": 1},
        }
    )


def check(body: bytes, fmt: FileFormat, key: str = "o/a.jsonl", version_field: str | None = "v") -> list[Any]:
    checker = EventChecker(stream(version_field), {1: V1, 2: V2})
    return [checker.check(r) for r in records(body, key, fmt, V2)]


def jsonl(*events: object) -> bytes:
    return "\n".join(e if isinstance(e, str) else json.dumps(e) for e in events).encode()


def test_valid_events_become_rows_with_their_version_and_time() -> None:
    body = jsonl(
        {"id": 1, "at": "2026-01-02T03:04:05Z", "amount": 2.5, "v": 1},
        "",
        {"id": 2, "at": "2026-01-02T03:04:05", "amount": 3, "ok": True, "v": 2},
    )
    first, second = check(body, FileFormat.JSONL)
    assert first == Row(
        1,
        1,
        "2026-01-02T03:04:05+00:00",
        json.dumps({"id": 1, "at": "2026-01-02T03:04:05Z", "amount": 2.5, "v": 1}, separators=(",", ":")),
    )
    assert isinstance(second, Row) and (second.number, second.version) == (3, 2)


def test_each_bad_event_is_quarantined_with_its_reason() -> None:
    body = jsonl(
        "{not json",
        "[1, 2]",
        {"id": "x", "at": "2026-01-02T00:00:00Z", "amount": 1, "v": 1},
        {"id": 4, "at": "2026-01-02T00:00:00Z", "amount": 1, "v": 2},
        {"id": 5, "at": "2026-01-02T00:00:00Z", "amount": 1, "v": 9},
        {"id": 6, "at": "yesterday", "amount": 1, "v": 1},
    )
    found = check(body, FileFormat.JSONL)
    assert all(isinstance(r, Rejected) for r in found)
    reasons = [r.reason for r in found]
    assert reasons[0].startswith("not JSON: ")
    assert reasons[1] == "not a JSON object but list"
    assert reasons[2] == "schema v1: id: 'x' is not of type 'integer'"
    assert reasons[3] == "schema v2: (event): 'ok' is a required property"
    assert reasons[4] == "v: 9 is not a schema version of this stream (known: 1, 2)"
    assert reasons[5] == "at: missing or not an ISO 8601 time"
    assert [r.number for r in found] == [1, 2, 3, 4, 5, 6]
    assert found[0].raw == "{not json"


def test_without_a_version_field_every_event_follows_the_latest_version() -> None:
    (rejected,) = check(
        jsonl({"id": 1, "at": "2026-01-02T00:00:00Z", "amount": 1}), FileFormat.JSONL, version_field=None
    )
    assert isinstance(rejected, Rejected) and rejected.reason.startswith("schema v2: ")


def test_csv_cells_are_typed_by_the_schema() -> None:
    body = (
        b"id,at,amount,ok,v\n1,2026-01-02T00:00:00Z,2.50,true,2\nx,2026-01-02T00:00:00Z,1,false,1\n3,2026\n"
    )
    good, bad_type, short = check(body, FileFormat.CSV, key="o/a.csv")
    assert isinstance(good, Row) and json.loads(good.event) == {
        "id": 1,
        "at": "2026-01-02T00:00:00Z",
        "amount": 2.5,
        "ok": True,
        "v": 2,
    }
    assert isinstance(bad_type, Rejected) and bad_type.reason == "schema v1: id: 'x' is not of type 'integer'"
    assert isinstance(short, Rejected) and short.reason == "2 cells; the header has 5"


def test_parquet_rows_are_events() -> None:
    table = pa.table(
        {
            "id": [1, 2],
            "at": ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"],
            "amount": [1.5, None],
            "v": [1, 1],
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    good, bad = check(out.getvalue(), FileFormat.PARQUET, key="o/a.parquet")
    assert isinstance(good, Row) and json.loads(good.event)["amount"] == 1.5
    assert isinstance(bad, Rejected) and bad.reason == "schema v1: amount: None is not of type 'number'"


def test_a_gzipped_object_is_read_and_a_broken_one_is_one_quarantined_record() -> None:
    body = gzip.compress(jsonl({"id": 1, "at": "2026-01-02T00:00:00Z", "amount": 1, "v": 1}))
    (row,) = check(body, FileFormat.JSONL, key="o/a.jsonl.gz")
    assert isinstance(row, Row)
    (broken,) = check(b"not gzip", FileFormat.JSONL, key="o/b.jsonl.gz")
    assert isinstance(broken, Rejected) and broken.reason.startswith("the object is not gzip data")
    (garbage,) = check(b"PAR1 nonsense", FileFormat.PARQUET, key="o/c.parquet")
    assert isinstance(garbage, Rejected) and garbage.reason.startswith("not a Parquet file")
