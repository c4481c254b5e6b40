# ruff: noqa: S608  -- SQL is assembled from identifiers quoted by ident() and literal(); values are bound
"""Write an Airbyte source's records into typed DuckDB tables, the way Airbyte's destinations v2
do: one table per stream in the sync's schema, a column per top-level property typed from the
discovered JSON schema, and the bookkeeping columns ``_airbyte_raw_id``, ``_airbyte_extracted_at``
and ``_airbyte_meta`` (sync id, and each value that could not be cast and was nulled).

Records are buffered in Python, spilled in batches to a per-stream temp table (one statement per
batch, the connector's JSON parsed and cast by DuckDB), and reach the real table only at a
checkpoint, in the same transaction that stores the stream's state. After a crash the table holds
exactly the records sent before the committed state, and the next sync resumes from that state:
nothing is skipped, and nothing is repeated beyond what the source itself re-sends from it.

- incremental streams commit at each of their STATE messages (and at a successful end);
- full-refresh streams are written at the end of a successful sync in one transaction: overwrite
  replaces the table atomically, a failed sync leaves the old table as it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sluice.airbyte.protocol import Column, ConfiguredStream, Record, State

if TYPE_CHECKING:
    import duckdb

#: records held in Python before one batched INSERT into the stream's temp table
BATCH_ROWS = 2000
STATE_TABLE = "_sluice_airbyte_state"
BOOKKEEPING = (
    ("_airbyte_raw_id", "VARCHAR NOT NULL"),
    ("_airbyte_extracted_at", "TIMESTAMPTZ NOT NULL"),
    ("_airbyte_meta", "JSON"),
)


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pointer(column: str) -> str:
    """JSON pointer (RFC 6901) to a record field, so any property name is addressed exactly."""
    return literal("/record/data/" + column.replace("~", "~0").replace("/", "~1"))


class RawWriter:
    """Writes one sync's records; one instance per sync, holding one DuckDB connection."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        schema: str,
        connection: str,
        streams: Sequence[ConfiguredStream],
        sync_id: int,
    ) -> None:
        self.con = con
        self.schema = schema
        self.connection = connection
        self.streams = {s.name: s for s in streams}
        self.sync_id = sync_id
        self.started = datetime.now(UTC)
        self.rows: dict[str, int] = {s.name: 0 for s in streams}  # committed this sync
        self._buffer: dict[str, list[str]] = {s.name: [] for s in streams}
        self._pending: dict[str, int] = {s.name: 0 for s in streams}  # rows in the temp table
        self._seq = 0
        self._temp = {s.name: f"_sluice_pending_{i}" for i, s in enumerate(streams)}
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {self._state_table} (connection VARCHAR NOT NULL, "
            "stream VARCHAR NOT NULL, state JSON NOT NULL, committed_at TIMESTAMPTZ NOT NULL, "
            "PRIMARY KEY (connection, stream))"
        )
        for s in streams:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {ident(self._temp[s.name])} (seq BIGINT, line VARCHAR)"
            )

    @property
    def _state_table(self) -> str:
        return f"{ident(self.schema)}.{ident(STATE_TABLE)}"

    def _table(self, stream: str) -> str:
        return f"{ident(self.schema)}.{ident(stream)}"

    # --- intake ---------------------------------------------------------------------------

    def add(self, record: Record) -> bool:
        """Buffer one record; False when its stream was not selected (the record is dropped)."""
        buffer = self._buffer.get(record.stream)
        if buffer is None:
            return False
        buffer.append(record.line)
        if len(buffer) >= BATCH_ROWS:
            self._spill(record.stream)
        return True

    def _spill(self, stream: str) -> None:
        lines = self._buffer[stream]
        if not lines:
            return
        seqs = list(range(self._seq, self._seq + len(lines)))
        self._seq += len(lines)
        self.con.execute(
            f"INSERT INTO {ident(self._temp[stream])} SELECT unnest(?), unnest(?)", [seqs, lines]
        )
        self._pending[stream] += len(lines)
        self._buffer[stream] = []

    # --- checkpoints ----------------------------------------------------------------------

    def checkpoint(self, state: State) -> bool:
        """Commit the records a STATE covers together with that state; True when committed.
        States of full-refresh streams are not kept: such a stream is re-read whole every sync."""
        if state.stream is None:
            covered = [s for s in self.streams.values() if s.incremental]
        else:
            stream = self.streams.get(state.stream)
            if stream is None or not stream.incremental:
                return False
            covered = [stream]
        self._commit(covered, state)
        return True

    def finish(self) -> None:
        """After a successful read: commit incremental leftovers, then (re)write full-refresh tables."""
        incremental = [s for s in self.streams.values() if s.incremental]
        if any(self._buffer[s.name] or self._pending[s.name] for s in incremental):
            self._commit(incremental, None)
        for stream in self.streams.values():
            if not stream.incremental:
                self._commit([stream], None)

    def _commit(self, streams: Sequence[ConfiguredStream], state: State | None) -> None:
        for s in streams:
            self._spill(s.name)
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for s in streams:
                self._apply(s)
            if state is not None:
                con.execute(
                    f"INSERT OR REPLACE INTO {self._state_table} VALUES (?, ?, ?, now())",
                    [self.connection, state.stream or "", json.dumps(state.message)],
                )
            for s in streams:
                con.execute(f"DELETE FROM {ident(self._temp[s.name])}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        for s in streams:
            self.rows[s.name] += self._pending[s.name]
            self._pending[s.name] = 0

    def _apply(self, stream: ConfiguredStream) -> None:
        """Move the stream's pending rows into its table (inside the caller's transaction)."""
        table = self._table(stream.name)
        if stream.destination_sync_mode == "overwrite":
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
        cols = self._ensure_table(stream)
        typed = self._typed_select(stream.name, cols)
        names = ", ".join(ident(n) for n, _ in BOOKKEEPING) + "".join(f", {ident(c.name)}" for c in cols)
        if stream.destination_sync_mode != "append_dedup":
            self.con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM ({typed}) ORDER BY seq")
            return
        # append_dedup: per primary key the row with the greatest cursor wins, ties to the newer
        # extraction, as in Airbyte's deduped tables; a null cursor loses to any value
        key = [path[0] for path in stream.primary_key]
        cursor = ident(stream.cursor_field[0])
        same_key = " AND ".join(f"t.{ident(k)} IS NOT DISTINCT FROM b.{ident(k)}" for k in key)
        partition = ", ".join(ident(k) for k in key)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE _sluice_batch AS SELECT * FROM ({typed}) "
            f"QUALIFY row_number() OVER (PARTITION BY {partition} "
            f"ORDER BY {cursor} DESC NULLS LAST, seq DESC) = 1"
        )
        self.con.execute(
            f"DELETE FROM {table} AS t USING _sluice_batch AS b WHERE {same_key} "
            f"AND (t.{cursor} IS NULL OR (b.{cursor} IS NOT NULL AND b.{cursor} >= t.{cursor}))"
        )
        self.con.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM _sluice_batch AS b "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {same_key}) ORDER BY seq"
        )
        self.con.execute("DROP TABLE _sluice_batch")

    def _ensure_table(self, stream: ConfiguredStream) -> list[Column]:
        """Create the table, or add the columns a newer schema brought; an existing column keeps
        its type (values are cast to it), so a table never changes type under its readers."""
        table = self._table(stream.name)
        defs = [f"{ident(n)} {t}" for n, t in BOOKKEEPING] + [
            f"{ident(c.name)} {c.sql_type}" for c in stream.columns
        ]
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)})")
        # DuckDB matches names case-insensitively, quoted or not: "Raw" is the schema raw
        existing = {
            str(name).lower(): str(kind)
            for name, kind in self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE lower(table_schema) = lower(?) AND lower(table_name) = lower(?)",
                [self.schema, stream.name],
            ).fetchall()
        }
        cols = []
        for c in stream.columns:
            if c.name.lower() not in existing:
                self.con.execute(f"ALTER TABLE {table} ADD COLUMN {ident(c.name)} {c.sql_type}")
                cols.append(c)
            else:
                cols.append(Column(c.name, existing[c.name.lower()]))
        return cols

    def _typed_select(self, stream: str, cols: Sequence[Column]) -> str:
        raws, typed, failed = [], [], []
        for i, c in enumerate(cols):
            ptr = _pointer(c.name)
            if c.sql_type == "JSON":
                typed.append(
                    f"CASE WHEN json_type(line, {ptr}) = 'NULL' THEN NULL ELSE json_extract(line, {ptr}) END "
                    f"AS {ident(c.name)}"
                )
                continue
            raws.append(f"json_extract_string(line, {ptr}) AS r{i}")
            if c.sql_type == "VARCHAR":
                typed.append(f"r{i} AS {ident(c.name)}")
            else:
                typed.append(f"TRY_CAST(r{i} AS {c.sql_type}) AS {ident(c.name)}")
                failed.append(
                    f"CASE WHEN r{i} IS NOT NULL AND TRY_CAST(r{i} AS {c.sql_type}) IS NULL "
                    f"THEN {literal(c.name)} END"
                )
        changes = (
            f"list_transform(list_filter([{', '.join(failed)}], lambda f: f IS NOT NULL), "
            "lambda f: json_object('field', f, 'change', 'NULLED', 'reason', 'DESTINATION_TYPECAST_ERROR'))"
            if failed
            else "[]"
        )
        started = literal(self.started.isoformat())
        inner = ", ".join(["seq", "line", *raws])
        outer = [
            "CAST(uuid() AS VARCHAR) AS _airbyte_raw_id",
            "coalesce(to_timestamp("
            "TRY_CAST(json_extract_string(line, '/record/emitted_at') AS DOUBLE) / 1000.0), "
            f"CAST({started} AS TIMESTAMPTZ)) AS _airbyte_extracted_at",
            f"json_object('sync_id', {int(self.sync_id)}, 'changes', {changes}) AS _airbyte_meta",
            *typed,
            "seq",
        ]
        return f"SELECT {', '.join(outer)} FROM (SELECT {inner} FROM {ident(self._temp[stream])})"


def stored_state(
    con: duckdb.DuckDBPyConnection, schema: str, connection: str, streams: Sequence[ConfiguredStream]
) -> list[Mapping[str, Any]]:
    """The committed state messages to hand the source: those of incremental streams whose table
    still exists (a dropped table is re-read from the start), plus a global state if one was kept."""
    has_table = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE lower(table_schema) = lower(?) AND lower(table_name) = lower(?)",
        [schema, STATE_TABLE],
    ).fetchone()
    if not has_table or not has_table[0]:
        return []
    rows = con.execute(
        f"SELECT stream, state FROM {ident(schema)}.{ident(STATE_TABLE)} "
        "WHERE connection = ? ORDER BY stream",
        [connection],
    ).fetchall()
    tables = {
        str(r[0]).lower()
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE lower(table_schema) = lower(?)", [schema]
        ).fetchall()
    }
    wanted = {s.name for s in streams if s.incremental and s.name.lower() in tables}
    return [json.loads(state) for stream, state in rows if stream in wanted or (stream == "" and wanted)]
