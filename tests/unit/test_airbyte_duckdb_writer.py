"""The DuckDB writer of the local Airbyte sync, fed with output recorded from airbyte-source-faker
(tests/unit/data/source_faker/read_incremental.jsonl: 6 users, 6 products, 6 purchases)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sluice.airbyte import protocol as proto
from sluice.airbyte.duckdb_writer import RawWriter, stored_state

DATA = Path(__file__).parent / "data" / "source_faker"
READ = (DATA / "read_incremental.jsonl").read_text().splitlines()
MODES = {
    "users": ("incremental", "append_dedup"),
    "products": ("full_refresh", "overwrite"),
    "purchases": ("incremental", "append"),
}


def configured(**modes: tuple[str, str]) -> list[proto.ConfiguredStream]:
    catalog = proto.single_message((DATA / "discover.jsonl").read_text().splitlines(), "CATALOG")
    assert catalog is not None
    streams = catalog["catalog"]["streams"]
    return [
        proto.configure(streams, name, sync, dest, (), ()) for name, (sync, dest) in (modes or MODES).items()
    ]


def feed(writer: RawWriter, lines: Iterable[str], finish: bool = True) -> None:
    for line in lines:
        message = proto.parse_line(line)
        if isinstance(message, proto.Record):
            writer.add(message)
        elif isinstance(message, proto.State):
            writer.checkpoint(message)
    if finish:
        writer.finish()


def records(stream: str) -> list[dict[str, Any]]:
    found = []
    for line in READ:
        doc = json.loads(line)
        if doc["type"] == "RECORD" and doc["record"]["stream"] == stream:
            found.append(doc["record"])
    return found


def record_line(stream: str, data: dict[str, Any], emitted_at: int = 1_795_435_000_000) -> str:
    return json.dumps(
        {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": emitted_at}}
    )


def state_line(stream: str, updated_at: str) -> str:
    descriptor = {"stream_descriptor": {"name": stream}, "stream_state": {"updated_at": updated_at}}
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": descriptor}})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def writer(con: duckdb.DuckDBPyConnection, streams: list[proto.ConfiguredStream] | None = None) -> RawWriter:
    return RawWriter(con, "raw", "payments_raw", streams or configured(), sync_id=7)


def test_a_recorded_read_lands_in_typed_tables_with_airbytes_columns(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        w = writer(con)
        feed(w, READ)
        assert w.rows == {"users": 6, "products": 6, "purchases": 6}
        users = con.execute(
            "SELECT id, email, created_at, address, _airbyte_raw_id, _airbyte_extracted_at, _airbyte_meta "
            "FROM raw.users ORDER BY id"
        ).fetchall()
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'raw' AND table_name = 'users'"
            ).fetchall()
        )
    expected = sorted(records("users"), key=lambda r: r["data"]["id"])
    assert [u[0] for u in users] == [r["data"]["id"] for r in expected]
    for row, rec in zip(users, expected, strict=True):
        data = rec["data"]
        assert row[1] == data["email"]
        assert row[2] == datetime.fromisoformat(data["created_at"])
        assert json.loads(row[3]) == data["address"]
        assert abs(row[5].timestamp() * 1000 - rec["emitted_at"]) < 1
        assert json.loads(row[6]) == {"sync_id": 7, "changes": []}
    assert len({u[4] for u in users}) == 6, "one _airbyte_raw_id per record"
    assert types["id"] == "BIGINT" and types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["address"] == "JSON" and types["_airbyte_extracted_at"] == "TIMESTAMP WITH TIME ZONE"


def test_rows_past_the_last_state_are_not_committed_when_the_sync_dies(db: Path) -> None:
    users_state = next(i for i, line in enumerate(READ) if '"STATE"' in line and '"users"' in line)
    first_purchase = next(i for i, line in enumerate(READ) if '"RECORD"' in line and '"purchases"' in line)
    assert first_purchase > users_state
    with duckdb.connect(str(db)) as con:
        # the connector wrote users and their state, then purchases, then died before their state
        feed(writer(con), READ[: first_purchase + 3], finish=False)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.users").fetchone() == (6,)
        purchases = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_name = 'purchases'"
        ).fetchone()
        assert purchases == (0,), "uncommitted purchases never reach a table"
        kept = stored_state(con, "raw", "payments_raw", configured())
    assert [s["stream"]["stream_descriptor"]["name"] for s in kept] == ["users"]
    assert kept[0]["stream"]["stream_state"]["loop_offset"] == 6


def test_append_dedup_keeps_the_newest_row_per_key(db: Path) -> None:
    streams = configured(users=("incremental", "append_dedup"))
    base = records("users")[0]["data"]
    newer = {**base, "email": "new@example.com", "updated_at": "2030-01-01T00:00:00+00:00"}
    older = {**base, "email": "old@example.com", "updated_at": "2000-01-01T00:00:00+00:00"}
    with duckdb.connect(str(db)) as con:
        feed(writer(con, streams), READ)
        feed(writer(con, streams), [record_line("users", newer), state_line("users", "2030")])
        feed(writer(con, streams), [record_line("users", older), state_line("users", "2030")])
        rows = con.execute("SELECT count(*), count(DISTINCT id) FROM raw.users").fetchone()
        email = con.execute("SELECT email FROM raw.users WHERE id = ?", [base["id"]]).fetchall()
    assert rows == (6, 6)
    assert email == [("new@example.com",)], "an older record never replaces a newer one"


def test_append_dedup_within_one_batch_keeps_the_later_of_equal_cursors(db: Path) -> None:
    streams = configured(users=("incremental", "append_dedup"))
    base = records("users")[0]["data"]
    lines = [record_line("users", {**base, "email": f"v{i}@example.com"}) for i in range(3)]
    with duckdb.connect(str(db)) as con:
        feed(writer(con, streams), [*lines, state_line("users", "x")])
        assert con.execute("SELECT email FROM raw.users").fetchall() == [("v2@example.com",)]


def test_append_keeps_every_record_of_every_sync(db: Path) -> None:
    streams = configured(purchases=("incremental", "append"))
    with duckdb.connect(str(db)) as con:
        feed(writer(con, streams), READ)
        feed(writer(con, streams), READ)
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM raw.purchases").fetchone() == (12, 6)


def test_overwrite_replaces_the_table_only_when_the_sync_succeeds(db: Path) -> None:
    streams = configured(products=("full_refresh", "overwrite"))
    few = [record_line("products", r["data"]) for r in records("products")[:2]]
    with duckdb.connect(str(db)) as con:
        feed(writer(con, streams), READ)
        feed(writer(con, streams), few, finish=False)  # a failed sync: no finish
        assert con.execute("SELECT count(*) FROM raw.products").fetchone() == (6,)
        feed(writer(con, streams), few)
        assert con.execute("SELECT count(*) FROM raw.products").fetchone() == (2,)


def test_a_value_that_does_not_fit_its_column_is_nulled_and_said_in_meta(db: Path) -> None:
    streams = configured(users=("incremental", "append"))
    bad = {**records("users")[0]["data"], "age": "very old", "created_at": "yesterday"}
    with duckdb.connect(str(db)) as con:
        feed(writer(con, streams), [record_line("users", bad)])
        row = con.execute("SELECT age, created_at, email, _airbyte_meta FROM raw.users").fetchone()
    assert row is not None
    age, created, email, meta = row
    assert age is None and created is None and email == bad["email"]
    changes = {c["field"]: c for c in json.loads(meta)["changes"]}
    assert set(changes) == {"age", "created_at"}
    assert changes["age"]["reason"] == "DESTINATION_TYPECAST_ERROR" and changes["age"]["change"] == "NULLED"


def test_a_new_property_becomes_a_new_column_and_old_rows_keep_theirs(db: Path) -> None:
    streams = configured(users=("incremental", "append"))
    with duckdb.connect(str(db)) as con:
        feed(writer(con, streams), READ)
        con.execute("ALTER TABLE raw.users DROP COLUMN occupation")  # as if an older schema made it
        feed(writer(con, streams), READ)
        filled = con.execute("SELECT count(occupation), count(*) FROM raw.users").fetchone()
    assert filled == (6, 12)


def test_the_state_of_a_dropped_table_is_not_handed_back(db: Path) -> None:
    streams = configured()
    with duckdb.connect(str(db)) as con:
        feed(writer(con, streams), READ)
        names = [
            s["stream"]["stream_descriptor"]["name"]
            for s in stored_state(con, "raw", "payments_raw", streams)
        ]
        assert names == ["purchases", "users"], "full-refresh products keeps no state"
        con.execute("DROP TABLE raw.users")
        names = [
            s["stream"]["stream_descriptor"]["name"]
            for s in stored_state(con, "raw", "payments_raw", streams)
        ]
        assert names == ["purchases"], "users must be re-read from the start"
        assert stored_state(con, "raw", "another_connection", streams) == []


def test_records_of_unselected_streams_are_dropped(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        w = writer(con, configured(users=("incremental", "append")))
        assert not w.add(proto.Record("products", READ[0]))
        feed(w, READ)
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "users" in tables and "products" not in tables and "purchases" not in tables
    assert datetime.now(UTC) >= w.started


def test_hostile_names_sync_and_a_schema_respelled_in_another_case_is_the_same_schema(db: Path) -> None:
    """Stream, column and schema names are quoted wherever they reach SQL; DuckDB matches names
    case-insensitively, so a connection whose namespace changes case keeps appending to its table."""
    stream = "we\"ird'; Stream"
    schema = {"type": "object", "properties": {'i"d': {"type": "integer"}, "u'at": {"type": "string"}}}
    discovered = [
        {
            "name": stream,
            "json_schema": schema,
            "supported_sync_modes": ["full_refresh", "incremental"],
            "source_defined_cursor": True,
            "default_cursor_field": ["u'at"],
            "source_defined_primary_key": [['i"d']],
        }
    ]
    streams = [proto.configure(discovered, stream, "incremental", "append_dedup", (), ())]
    with duckdb.connect(str(db)) as con:
        for namespace, at in (('Raw "x"; --', "2026-01-01"), ('RAW "X"; --', "2026-01-02")):
            w = RawWriter(con, namespace, "c'onn", streams, sync_id=1)
            feed(w, [record_line(stream, {'i"d': 1, "u'at": at}), state_line(stream, at)])
            assert w.rows == {stream: 1}
        table = '"raw ""x""; --"."we""ird\'; stream"'
        assert con.execute(f'select "I""D", "U\'AT" from {table}').fetchall() == [(1, "2026-01-02")]
        (kept,) = stored_state(con, 'raw "X"; --', "c'onn", streams)
    assert kept["stream"]["stream_state"] == {"updated_at": "2026-01-02"}
