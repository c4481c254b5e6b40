"""The warehouse an event load writes: the DuckDB file or PostgreSQL database of the pipeline's
dbt target, so the raw tables are where dbt reads them. One small interface over both engines'
DB-API connections; SQL is written with ``?`` placeholders.

Credentials are read from the dbt profile (its ``env_var`` rendered) at connect time and are
never logged or kept: an error says the engine, host and database only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from sluice.errors import EventLoadError, first_line
from sluice.runtime.dbt_profiles import profile_duckdb_path, rendered_output
from sluice.runtime.file_locks import duckdb_lock_path, exclusive


class Engine(StrEnum):
    DUCKDB = "duckdb"
    POSTGRES = "postgres"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_ref(qualified: str) -> str:
    """``schema.table`` (checked plain names) as a quoted reference."""
    return ".".join(ident(p) for p in qualified.split(".", 1))


class Warehouse:
    """One open connection: statements run inside :meth:`transaction` blocks."""

    def __init__(self, engine: Engine, con: Any) -> None:
        self.engine = engine
        self.con = con

    @property
    def json_type(self) -> str:
        return "JSONB" if self.engine is Engine.POSTGRES else "JSON"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.engine is Engine.POSTGRES else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.engine is Engine.DUCKDB:
            return list(self.con.execute(sql, list(params)).fetchall())
        with self.con.cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall()) if cur.description else []

    def insert(
        self, table: str, columns: Sequence[str], casts: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Many rows in one statement per batch. ``casts`` types each column ("" for none)."""
        if not rows:
            return
        names = ", ".join(ident(c) for c in columns)
        if self.engine is Engine.DUCKDB:
            # one list per column, zipped by unnest in one SELECT: no per-row round trip
            picks = ", ".join(f"unnest(?){'::' + c if c else ''}" for c in casts)
            lists = [list(col) for col in zip(*rows, strict=True)]
            self.con.execute(f"INSERT INTO {table_ref(table)} ({names}) SELECT {picks}", lists)
            return
        from psycopg2.extras import execute_values  # type: ignore[import-untyped]  # no stubs

        template = "(" + ", ".join(f"%s{'::' + c if c else ''}" for c in casts) + ")"
        with self.con.cursor() as cur:
            execute_values(cur, f"INSERT INTO {table_ref(table)} ({names}) VALUES %s", rows, template, 1000)  # noqa: S608

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """Everything in the block commits together or not at all."""
        if self.engine is Engine.DUCKDB:
            self.con.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()


def _connect_postgres(settings: dict[str, str], where: str) -> Any:
    import psycopg2  # type: ignore[import-untyped]  # no stubs; dbt-postgres and Airflow need it

    options: dict[str, Any] = {
        "host": settings.get("host", "127.0.0.1"),
        "port": int(settings.get("port", "5432") or 5432),
        "user": settings.get("user", ""),
        "password": settings.get("password") or settings.get("pass") or "",
        "dbname": settings.get("dbname") or settings.get("database", ""),
        "connect_timeout": 30,
        "application_name": "sluice-events",
    }
    if settings.get("sslmode"):
        options["sslmode"] = settings["sslmode"]
    try:
        return psycopg2.connect(**options)
    except psycopg2.Error as exc:
        # psycopg2's messages name host and database, never the password
        raise EventLoadError(f"cannot connect to {where}: {first_line(exc)}") from None


@contextlib.contextmanager
def open_warehouse(
    project_dir: Path, profiles_dir: Path, target: str, log: Callable[[str], None]
) -> Iterator[Warehouse]:
    """The dbt target's warehouse; a DuckDB file is written under sluice's lock for it (one
    writing process per file), held until the block ends."""
    settings = rendered_output(project_dir, profiles_dir, target)
    kind = settings.get("type")
    if kind == Engine.DUCKDB:
        path = profile_duckdb_path(project_dir, profiles_dir, target)
        if path is None:
            raise EventLoadError(f"dbt target '{target}': event loads need a DuckDB file, not in memory")
        import duckdb

        path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(duckdb_lock_path(path), log):
            con = duckdb.connect(str(path))
            try:
                yield Warehouse(Engine.DUCKDB, con)
            finally:
                con.close()
        return
    if kind == Engine.POSTGRES:
        database = settings.get("dbname") or settings.get("database")
        where = f"PostgreSQL {settings.get('host', '127.0.0.1')}/{database}"
        con = _connect_postgres(settings, where)
        try:
            yield Warehouse(Engine.POSTGRES, con)
        finally:
            con.close()
        return
    raise EventLoadError(
        f"dbt target '{target}' is {kind or 'not in profiles.yml'}; sluice loads events into duckdb "
        "and postgres targets"
    )
