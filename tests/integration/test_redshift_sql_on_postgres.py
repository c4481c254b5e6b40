"""Redshift's atomic publish SQL, run where it can run here: on PostgreSQL, whose SQL Redshift's
derives from, sent as dbt-redshift sends it (each statement string split with sqlparse, the parts
run in order on one connection in autocommit mode, dbt-redshift's default). This proves what the
statements do and that the BEGIN ... COMMIT they carry still holds when split: a publish that
fails half-way renames nothing. It does not prove Redshift accepts them; sqlglot's Redshift
tokenizer (tests/unit) and sqlfluff's Redshift dialect (tests/infra) do that part."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg2
import pytest
import sqlparse

from sluice.runtime.publish import PublishError, Warehouse, publish_sql, stage_sql, staging_name
from tests.integration.conftest import scratch_postgres
from tests.unit.test_publish_names import describe_queries

pytestmark = pytest.mark.integration
SCHEMA = "o'brien; drop schema sentinel cascade; --"
LIVE, STAGING = (
    '"o\'brien; drop schema sentinel cascade; --"',
    '"o\'brien; drop schema sentinel cascade; --__staging"',
)


@pytest.fixture
def dsn() -> Iterator[str]:
    with scratch_postgres("sluice_redshift_sql") as name:
        yield f"host=127.0.0.1 user=postgres dbname={name}"


def send(dsn: str, statements: Sequence[str]) -> None:
    """As dbt-redshift's connection manager: every statement string split, parts in order."""
    with contextlib.closing(psycopg2.connect(dsn)) as con:
        con.autocommit = True
        with con.cursor() as cur:
            for sql in statements:
                for part in sqlparse.split(sql):
                    if part.strip():
                        cur.execute(part)


def rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(psycopg2.connect(dsn)) as con, con.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def described(dsn: str) -> Warehouse:
    """What sluice_describe answers on a redshift target: its own queries, run here."""
    schemata, tables, views = describe_queries("redshift", [SCHEMA])
    found: dict[str, Any] = {n: {"exists": False, "relations": []} for n in (SCHEMA, staging_name(SCHEMA))}
    for (name,) in rows(dsn, schemata):
        found[name]["exists"] = True
    for schema, name, kind in rows(dsn, tables):
        found[schema]["relations"].append({"name": name, "type": "view" if "VIEW" in kind else "table"})
    late = dict(rows(dsn, views))
    return Warehouse.from_result(
        {"type": "redshift", "database": "analytics", "schemas": found, "views": late}
    )


def test_redshift_stage_and_publish_run_as_dbt_redshift_sends_them(dsn: str) -> None:
    send(
        dsn,
        [
            "create schema sentinel",
            f"create schema {LIVE}",
            f"create table {LIVE}.daily as select 1 as total",
            f"create table {LIVE}.history (order_id int not null)",
            f"insert into {LIVE}.history values (1)",
        ],
    )
    send(dsn, stage_sql(described(dsn), [SCHEMA], [f"{SCHEMA}.history"]))
    # what dbt builds into staging: a table, and the incremental model on its copied history
    send(
        dsn,
        [f"create table {STAGING}.daily as select 2 as total", f"insert into {STAGING}.history values (2)"],
    )
    send(dsn, publish_sql(described(dsn), [SCHEMA]))
    assert rows(dsn, f"select total from {LIVE}.daily") == [(2,)]
    assert rows(dsn, f"select order_id from {LIVE}.history order by 1") == [(1,), (2,)]
    # LIKE kept the column's NOT NULL, as it keeps a Redshift table's keys and encodings
    nullable = rows(
        dsn,
        "select is_nullable from information_schema.columns where table_name = 'history' "
        f"and table_schema = '{SCHEMA.replace(chr(39), chr(39) * 2)}'",
    )
    assert nullable == [("NO",)]
    schemata = {r[0] for r in rows(dsn, "select schema_name from information_schema.schemata")}
    assert SCHEMA in schemata and "sentinel" in schemata
    assert not {staging_name(SCHEMA), SCHEMA + "__sluice_retired"} & schemata


def test_a_publish_that_fails_half_way_renames_nothing(dsn: str) -> None:
    send(
        dsn,
        [
            f"create schema {LIVE}",
            f"create table {LIVE}.daily as select 1 as total",
            f"create schema {STAGING}",
        ],
    )
    statements = publish_sql(described(dsn), [SCHEMA])
    # the second rename fails: something took the live name after the first rename left it
    # (here a schema of that name made between describe and publish)
    body = statements[0].replace(
        f"alter schema {STAGING} rename to {LIVE}", f"alter schema {STAGING} rename to sentinel"
    )
    send(dsn, ["create schema sentinel"])
    with pytest.raises(psycopg2.errors.DuplicateSchema):
        send(dsn, [body])
    schemata = {r[0] for r in rows(dsn, "select schema_name from information_schema.schemata")}
    assert {SCHEMA, staging_name(SCHEMA)} <= schemata, "the first rename was rolled back with the second"
    assert rows(dsn, f"select total from {LIVE}.daily") == [(1,)]


def test_a_late_binding_view_in_staging_stops_the_publish_before_any_rename(dsn: str) -> None:
    send(dsn, [f"create schema {STAGING}", f"create table {STAGING}.daily as select 1 as total"])
    # PostgreSQL has no late binding; a view whose SQL says so stands in for what pg_views shows
    send(
        dsn,
        [f"create view {STAGING}.v as select total, 'with no schema binding' as note from {STAGING}.daily"],
    )
    with pytest.raises(PublishError, match="late-binding view"):
        publish_sql(described(dsn), [SCHEMA])
