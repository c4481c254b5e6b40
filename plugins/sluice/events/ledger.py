# ruff: noqa: S608  -- table names are checked plain names quoted by table_ref(); values are bound
"""The warehouse side of a stream: its raw and quarantine tables, the load ledger (one row per
S3 object loaded: key, ETag, row counts, when) and the record of each schema version's hash.

An object's rows, its quarantined events and its ledger row are written in one transaction,
the ledger row first: a second writer of the same object (a redelivered notification, a retry,
an overlapping run) waits on the ledger's primary key and then finds it taken, so its rows are
never written; a load that dies before the commit leaves nothing, and the next one loads the
object whole.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sluice.errors import EventLoadError
from sluice.events.config import StreamFile
from sluice.events.event_check import Checked
from sluice.events.warehouse import Warehouse, ident, table_ref

LEDGER = "_sluice_event_loads"
RAW_COLUMNS = (
    "_object_key",
    "_object_etag",
    "_record",
    "schema_version",
    "occurred_at",
    "event",
    "_loaded_at",
)
SCHEMAS = "_sluice_event_schemas"


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    size: int


def ledger_table(sf: StreamFile) -> str:
    return f"{sf.stream.raw_schema}.{LEDGER}"


def schemas_table(sf: StreamFile) -> str:
    return f"{sf.stream.raw_schema}.{SCHEMAS}"


def ensure_tables(wh: Warehouse, sf: StreamFile) -> None:
    s = sf.stream
    ts, js = "TIMESTAMPTZ", wh.json_type
    with wh.transaction():
        for schema in sorted({s.raw_schema, s.quarantine.split(".", 1)[0]}):
            wh.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
        wh.execute(
            f"CREATE TABLE IF NOT EXISTS {table_ref(s.raw_table)} (_object_key VARCHAR NOT NULL, "
            f"_object_etag VARCHAR NOT NULL, _record BIGINT NOT NULL, schema_version INTEGER NOT NULL, "
            f"occurred_at {ts} NOT NULL, event {js} NOT NULL, _loaded_at {ts} NOT NULL)"
        )
        wh.execute(
            f"CREATE TABLE IF NOT EXISTS {table_ref(s.quarantine)} (_object_key VARCHAR NOT NULL, "
            f"_object_etag VARCHAR NOT NULL, _record BIGINT NOT NULL, reason VARCHAR NOT NULL, "
            f"raw VARCHAR NOT NULL, _loaded_at {ts} NOT NULL)"
        )
        wh.execute(
            f"CREATE TABLE IF NOT EXISTS {table_ref(ledger_table(sf))} (stream VARCHAR NOT NULL, "
            "object_key VARCHAR NOT NULL, etag VARCHAR NOT NULL, size_bytes BIGINT NOT NULL, "
            f"good_rows BIGINT NOT NULL, bad_rows BIGINT NOT NULL, loaded_at {ts} NOT NULL, "
            "archived_rows BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (stream, object_key, etag))"
        )
        wh.execute(
            f"CREATE TABLE IF NOT EXISTS {table_ref(schemas_table(sf))} (stream VARCHAR NOT NULL, "
            f"version INTEGER NOT NULL, sha256 VARCHAR NOT NULL, recorded_at {ts} NOT NULL, "
            "PRIMARY KEY (stream, version))"
        )


def check_schema_hashes(wh: Warehouse, sf: StreamFile) -> None:
    """Record each version's hash the first time it is loaded, and refuse a version whose file
    now hashes otherwise than when it was first loaded: events of one version all follow one
    schema, whatever the YAML says."""
    now = dt.datetime.now(dt.UTC)
    hashes = sf.hashes()
    with wh.transaction():
        for version, digest in hashes.items():
            wh.execute(
                f"INSERT INTO {table_ref(schemas_table(sf))} (stream, version, sha256, recorded_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (sf.name, version, digest, now),
            )
        recorded = wh.execute(
            f"SELECT version, sha256 FROM {table_ref(schemas_table(sf))} WHERE stream = ?", (sf.name,)
        )
    for version, digest in sorted(recorded):
        if version in hashes and hashes[version] != digest:
            i = version - 1
            raise sf.error(
                ("schemas", i, "sha256"),
                f"version {version} was loaded with schema {digest}, and is now {hashes[version]}: a "
                "published schema is never edited; restore it and add the change as version "
                f"{sf.stream.latest + 1}",
            )


def loaded_objects(wh: Warehouse, sf: StreamFile) -> set[tuple[str, str]]:
    rows = wh.execute(
        f"SELECT object_key, etag FROM {table_ref(ledger_table(sf))} WHERE stream = ?", (sf.name,)
    )
    return {(str(k), str(e)) for k, e in rows}


def write_object(wh: Warehouse, sf: StreamFile, obj: S3Object, checked: Checked) -> bool:
    """The object's rows, quarantined events and ledger row in one transaction; False (and
    nothing written) when the ledger already holds the object."""
    s, now = sf.stream, dt.datetime.now(dt.UTC)
    with wh.transaction():
        claimed = wh.execute(
            f"INSERT INTO {table_ref(ledger_table(sf))} (stream, object_key, etag, size_bytes, good_rows, "
            "bad_rows, loaded_at, archived_rows) VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING "
            "RETURNING 1",
            (sf.name, obj.key, obj.etag, obj.size, len(checked.rows), len(checked.rejected), now),
        )
        if not claimed:
            return False
        wh.insert(
            s.raw_table,
            RAW_COLUMNS,
            ("", "", "", "", "TIMESTAMPTZ", wh.json_type, "TIMESTAMPTZ"),
            [(obj.key, obj.etag, r.number, r.version, r.occurred_at, r.event, now) for r in checked.rows],
        )
        wh.insert(
            s.quarantine,
            ("_object_key", "_object_etag", "_record", "reason", "raw", "_loaded_at"),
            ("", "", "", "", "", "TIMESTAMPTZ"),
            [(obj.key, obj.etag, r.number, r.reason, r.raw, now) for r in checked.rejected],
        )
    return True


def raise_unless_same(wh: Warehouse, sf: StreamFile) -> None:
    """The ledger's counts against the tables: good_rows - archived_rows rows in the raw table
    and bad_rows in the quarantine, per object (what a test or an operator checks)."""
    s = sf.stream
    diff = wh.execute(
        f"SELECT l.object_key FROM {table_ref(ledger_table(sf))} l "
        f"LEFT JOIN (SELECT _object_key, _object_etag, count(*) AS n FROM {table_ref(s.raw_table)} "
        "GROUP BY 1, 2) r ON r._object_key = l.object_key AND r._object_etag = l.etag "
        f"LEFT JOIN (SELECT _object_key, _object_etag, count(*) AS n FROM {table_ref(s.quarantine)} "
        "GROUP BY 1, 2) q ON q._object_key = l.object_key AND q._object_etag = l.etag "
        "WHERE l.stream = ? AND (coalesce(r.n, 0) <> l.good_rows - l.archived_rows "
        "OR coalesce(q.n, 0) <> l.bad_rows)",
        (sf.name,),
    )
    if diff:
        keys = ", ".join(sorted(str(k) for (k,) in diff)[:5])
        raise EventLoadError(f"event stream {sf.name}: the ledger disagrees with the tables for {keys}")
