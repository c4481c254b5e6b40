"""Atomic publish SQL on hostile schema, table and role names: each statement stays one statement
that names exactly what it should. DuckDB runs the SQL for real; Snowflake, PostgreSQL and
Redshift SQL is read back with sqlglot's tokenizer for their dialects (fakesnow's SQL reader), an
oracle independent of sluice's quoting (tests/integration/test_publish_names.py runs PostgreSQL;
tests/infra/test_warehouse_sql.py parses the Redshift and Snowflake SQL with sqlfluff)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pytest
import sqlglot
import sqlparse
from sqlglot.tokens import TokenType

from sluice.runtime.publish import (
    PublishError,
    Warehouse,
    publish_sql,
    relation_listing,
    stage_sql,
    staging_name,
)
from sluice.runtime.publish.snowflake import grant_sql, undo_sql
from tests.conftest import REPO

HOSTILE = [
    "o'brien",
    'say "hi"',
    "x; drop schema sentinel cascade; --",
    "we.ird",
    "with space",
    "ünïcödé",
    "MiXeD",
    "select",
    "back\\slash",
]


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def shape(sql: str, dialect: str) -> tuple[str, list[str]]:
    """The statement with each quoted identifier as ?, and the identifiers' names."""
    tokens = sqlglot.tokenize(sql, read=dialect)
    words = ["?" if t.token_type is TokenType.IDENTIFIER else t.text.lower() for t in tokens]
    names = [t.text for t in tokens if t.token_type is TokenType.IDENTIFIER]
    return " ".join(words).replace(" . ", "."), names


def described(engine: str, schema: str, database: str = "analytics", live: bool = True) -> Warehouse:
    relations = [{"name": "daily", "type": "table"}]
    return Warehouse.from_result(
        {
            "type": engine,
            "database": database,
            "schemas": {
                schema.lower(): {"exists": live, "relations": relations if live else []},
                staging_name(schema).lower(): {"exists": True, "relations": relations},
            },
        }
    )


# --- DuckDB: the statements run on a real database ------------------------------------------


def describe_duckdb(con: duckdb.DuckDBPyConnection, schemas: list[str]) -> Warehouse:
    """What the sluice_describe macro answers (names bound as values here)."""
    wanted = [n.lower() for s in schemas for n in (s, staging_name(s))]
    found: dict[str, Any] = {n: {"exists": False, "relations": []} for n in wanted}
    for (name,) in con.execute("select lower(schema_name) from information_schema.schemata").fetchall():
        if name in found:
            found[name]["exists"] = True
    tables = "select lower(table_schema), table_name, table_type from information_schema.tables order by 1, 2"
    for schema, name, kind in con.execute(tables).fetchall():
        if schema in found:
            found[schema]["relations"].append({"name": name, "type": "view" if "VIEW" in kind else "table"})
    views = con.execute("select lower(schema_name) || '.' || view_name, sql from duckdb_views()").fetchall()
    database = con.execute("select current_database()").fetchall()[0][0]
    return Warehouse.from_result(
        {"type": "duckdb", "database": database, "schemas": found, "views": dict(views)}
    )


def run_each(con: duckdb.DuckDBPyConnection, statements: list[str], parts: int = 1) -> None:
    for sql in statements:
        assert len(con.extract_statements(sql)) == parts or parts == 0, sql
        con.execute(sql)


@pytest.mark.parametrize("schema", HOSTILE)
def test_duckdb_stages_and_publishes_a_zone_whatever_its_schema_is_called(
    schema: str, tmp_path: Path
) -> None:
    live, staging = ident(schema), ident(staging_name(schema))
    # the database is named after the file: a hostile one too
    with duckdb.connect(str(tmp_path / "wh'q x.duckdb")) as con:
        con.execute("create schema sentinel; create table sentinel.t as select 1 as a")
        con.execute(f"create schema {live}")
        con.execute(f"create table {live}.daily as select 1 as total")
        con.execute(f'create table {live}."order history" as select 1 as order_id')
        keep = [f"{schema}.order history"]
        run_each(con, stage_sql(describe_duckdb(con, [schema]), [schema], keep))
        # what dbt then builds into staging: a table, the incremental model, a view on the table
        con.execute(f"create table {staging}.daily as select 2 as total")
        con.execute(f'insert into {staging}."order history" values (2)')
        con.execute(f"create view {staging}.v as select total from {staging}.daily")
        (sql,) = publish_sql(describe_duckdb(con, [schema]), [schema])
        kinds = [s.type.name for s in con.extract_statements(sql)]
        assert kinds[0] == kinds[-1] == "TRANSACTION" and "TRANSACTION" not in kinds[1:-1]
        con.execute(sql)
        assert con.execute(f"select total from {live}.v").fetchall() == [(2,)]
        history = con.execute(f'select order_id from {live}."order history" order by 1').fetchall()
        assert history == [(1,), (2,)], "the incremental model built on its copied history"
        schemata = {
            r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()
        }
        assert staging_name(schema) not in schemata
        assert "sentinel" in schemata


def test_duckdb_publishes_views_after_what_they_read_whatever_their_names(tmp_path: Path) -> None:
    """DuckDB checks a view's names when it is created: on a first publish, a view named before
    the table it reads, or before another view it reads, must still be created after it."""
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        for n in (3, 4):  # a first publish, then one over a live zone holding them all
            con.execute("create schema gold__staging")
            con.execute(f"create table gold__staging.z_orders as select {n} as n")
            con.execute("create view gold__staging.c_totals as select n from gold__staging.z_orders")
            con.execute("create view gold__staging.a_report as select n from gold__staging.c_totals")
            con.execute("create view gold__staging.b_copy as select n from gold__staging.a_report")
            (sql,) = publish_sql(describe_duckdb(con, ["gold"]), ["gold"])
            con.execute(sql)
            assert con.execute("select n from gold.b_copy").fetchall() == [(n,)]


def test_a_dotted_schema_keeps_its_incremental_history() -> None:
    wh = Warehouse.from_result(
        {
            "type": "postgres",
            "database": "d",
            "schemas": {"we.ird": {"exists": True, "relations": [{"name": "h.x", "type": "table"}]}},
        }
    )
    assert stage_sql(wh, ["we.ird"], ["we.ird.h.x"])[-1] == (
        'create table "we.ird__staging"."h.x" as select * from "we.ird"."h.x"'
    )


# --- Snowflake: upper-cased plain names, refused others, exact grantees ---------------------


@pytest.mark.parametrize("schema", ["gold", "Gold", "GOLD", "g$old_1", "_x"])
def test_snowflake_names_dbt_created_unquoted_are_quoted_as_snowflake_stores_them(schema: str) -> None:
    wh = described("snowflake", schema, database="Analytics")
    folded = ["ANALYTICS", staging_name(schema).upper(), "ANALYTICS", schema.upper()]
    statements = [
        *publish_sql(wh, [schema])[:1],
        *stage_sql(wh, [schema], []),
        *undo_sql(wh, [schema]),
    ]
    assert [shape(sql, "snowflake") for sql in statements] == [
        ("alter schema ?.? swap with ?.?", folded),
        ("create or replace schema ?.? clone ?.?", folded),
        ("alter schema ?.? swap with ?.?", folded[2:] + folded[:2]),
    ]
    first = publish_sql(described("snowflake", schema, live=False), [schema])
    assert [shape(sql, "snowflake")[0] for sql in first] == ["alter schema ?.? rename to ?.?"]


@pytest.mark.parametrize("name", [n for n in HOSTILE if n not in ("MiXeD", "select")] + ["1st"])
def test_snowflake_refuses_a_name_that_dbt_could_not_have_created_unquoted(name: str) -> None:
    with pytest.raises(PublishError, match=r"Snowflake name .* is not a plain identifier") as err:
        stage_sql(described("snowflake", name), [name], [])
    assert repr(name) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(PublishError, match="is not a plain identifier"):
        publish_sql(described("snowflake", "gold", database=name), ["gold"])


def test_snowflake_grants_go_to_the_exact_roles_show_grants_reported() -> None:
    roles = ["analyst role", 'r"; drop database analytics; --', "lower_case", "Ünïcode", "back\\slash"]
    grants = {"gold": [["USAGE", "ROLE", role] for role in roles]}
    grants["gold"].append(["USAGE", "DATABASE_ROLE", "ANALYTICS.gold reader"])
    grants["gold"].append(["CREATE DYNAMIC TABLE", "DATABASE_ROLE", 'ANALYTICS."quoted.role"'])
    statements = grant_sql(described("snowflake", "gold"), grants)
    assert [shape(sql, "snowflake") for sql in statements] == [
        *[("grant usage on schema ?.? to role ?", ["ANALYTICS", "GOLD__STAGING", r]) for r in roles],
        (
            "grant usage on schema ?.? to database role ?.?",
            ["ANALYTICS", "GOLD__STAGING", "ANALYTICS", "gold reader"],
        ),
        (
            "grant create dynamic table on schema ?.? to database role ?.?",
            ["ANALYTICS", "GOLD__STAGING", "ANALYTICS", "quoted.role"],
        ),
    ]


def test_snowflake_refuses_a_privilege_that_is_not_one() -> None:
    grants = {"gold": [["USAGE TO ROLE X; DROP SCHEMA GOLD; --", "ROLE", "R"]]}
    with pytest.raises(PublishError, match=r"reported the privilege .* which is not a privilege name"):
        grant_sql(described("snowflake", "gold"), grants)


# --- PostgreSQL: exact names ------------------------------------------------------------------


@pytest.mark.parametrize("schema", HOSTILE)
def test_postgres_publish_names_exactly_the_schemas_of_the_zone(schema: str) -> None:
    retired, staging = schema + "__sluice_retired", staging_name(schema)
    body, drop = publish_sql(described("postgres", schema), [schema])
    assert shape(body, "postgres") == (
        "begin ; alter schema ? rename to ? ; alter schema ? rename to ? ; commit",
        [schema, retired, staging, schema],
    )
    assert shape(drop, "postgres") == ("drop schema if exists ? cascade", [retired])
    copy = stage_sql(described("postgres", schema), [schema], [f"{schema}.daily"])
    assert [shape(sql, "postgres") for sql in copy] == [
        ("drop schema if exists ? cascade", [staging]),
        ("create schema ?", [staging]),
        ("create table ?.? as select * from ?.?", [staging, "daily", schema, "daily"]),
    ]


def test_the_blocked_report_lists_staged_relations_by_their_exact_names() -> None:
    wh = Warehouse.from_result(
        {
            "type": "snowflake",
            "database": "ANALYTICS",
            "schemas": {
                "gold__staging": {"exists": True, "relations": [{"name": "Daily x", "type": "table"}]}
            },
        }
    )
    lines: list[str] = []
    relation_listing(wh, "gold", lines.append)
    assert lines == ['  select * from "ANALYTICS"."GOLD__STAGING"."Daily x";  -- staged table']


# --- Redshift: exact names, and the statements dbt-redshift sends one by one ------------------


def dbt_redshift_split(sql: str) -> list[str]:
    """What dbt-redshift's connection manager sends for one statement string: it splits it with
    sqlparse (RedshiftConnectionManager.add_query) and runs the parts in order on one connection."""
    return [part.strip().rstrip(";").strip() for part in sqlparse.split(sql) if part.strip()]


@pytest.mark.parametrize("schema", HOSTILE)
def test_redshift_publish_names_exactly_the_schemas_of_the_zone(schema: str) -> None:
    retired, staging = schema + "__sluice_retired", staging_name(schema)
    body, drop = publish_sql(described("redshift", schema), [schema])
    assert shape(body, "redshift") == (
        "begin ; alter schema ? rename to ? ; alter schema ? rename to ? ; commit",
        [schema, retired, staging, schema],
    )
    # the transaction reaches Redshift as four statements on one connection, each naming
    # exactly its schemas: a quote or semicolon in a name never splits a statement
    assert [shape(sql, "redshift") for sql in dbt_redshift_split(body)] == [
        ("begin", []),
        ("alter schema ? rename to ?", [schema, retired]),
        ("alter schema ? rename to ?", [staging, schema]),
        ("commit", []),
    ]
    assert shape(drop, "redshift") == ("drop schema if exists ? cascade", [retired])
    copy = stage_sql(described("redshift", schema), [schema], [f"{schema}.daily"])
    assert [shape(sql, "redshift") for sql in copy] == [
        ("drop schema if exists ? cascade", [staging]),
        ("create schema ?", [staging]),
        ("create table ?.? ( like ?.? )", [staging, "daily", schema, "daily"]),
        ("insert into ?.? select * from ?.?", [staging, "daily", schema, "daily"]),
    ]
    assert all(dbt_redshift_split(sql) == [sql] for sql in [drop, *copy])


def test_redshift_keeps_the_case_dbt_quoted_a_name_with() -> None:
    """dbt-redshift quotes names as written; Redshift folds them, or not, by its own setting, so
    sluice's SQL must name them exactly as dbt's did."""
    body, _ = publish_sql(described("redshift", "Gold"), ["Gold"])
    assert shape(body, "redshift")[1] == ["Gold", "Gold__sluice_retired", "Gold__staging", "Gold"]


class _NoRows:
    rows: list[Any] = []


def sluice_macros(engine: str, ran: list[str] | None = None) -> Any:
    """The project's sluice macros rendered as dbt would for a target of ``engine``, with the
    queries they run recorded in ``ran`` (each answered with no rows)."""
    source = (REPO / "dbt" / "macros" / "sluice" / "publish.sql").read_text()
    environment = jinja2.Environment(extensions=["jinja2.ext.do"], autoescape=False)  # SQL, not HTML
    context = {
        "target": {"type": engine, "database": "analytics"},
        "run_query": lambda sql: (ran if ran is not None else []).append(str(sql)) or _NoRows(),
        "log": lambda message, info=False: "",
        "tojson": json.dumps,
    }
    return environment.from_string(source, globals=context).module


def sluice_literal(engine: str, text: str) -> str:
    """The project's sluice_literal macro (what sluice_describe puts names in)."""
    return str(sluice_macros(engine).sluice_literal(text))


def describe_queries(engine: str, schemas: list[str]) -> list[str]:
    """The queries sluice_describe runs for ``schemas`` on ``engine``."""
    ran: list[str] = []
    sluice_macros(engine, ran).sluice_describe(schemas)
    return [" ".join(sql.split()) for sql in ran]


@pytest.mark.parametrize("schema", HOSTILE)
def test_redshift_describe_asks_for_exactly_the_zone_and_its_staging_copy(schema: str) -> None:
    schemata, tables, views = describe_queries("redshift", [schema])
    wanted = [schema.lower(), staging_name(schema).lower()]
    for sql in (schemata, tables, views):
        tokens = sqlglot.tokenize(sql, read="redshift")
        values = [t.text for t in tokens if t.token_type is TokenType.STRING]
        assert [v for v in values if v not in (".", "%with no schema binding%")] == wanted, sql
        assert TokenType.SEMICOLON not in {t.token_type for t in tokens}
    assert "from pg_views" in views and "with no schema binding" in views


@pytest.mark.parametrize("engine", ["redshift", "snowflake", "postgres", "duckdb"])
@pytest.mark.parametrize("name", [*HOSTILE, "ends with\\", "\\'"])
def test_describe_literals_hold_any_name_on_each_engine(engine: str, name: str) -> None:
    tokens = sqlglot.tokenize("select " + sluice_literal(engine, name), read=engine)
    assert [(t.token_type, t.text) for t in tokens[1:]] == [(TokenType.STRING, name)]


def test_redshift_reads_a_backslash_in_a_literal_as_an_escape() -> None:
    """The control: PostgreSQL's literal (backslash kept single) is not Redshift's."""
    postgres_form = sluice_literal("postgres", "x\\' or 1=1 --")
    tokens = sqlglot.tokenize("select " + postgres_form + " as a", read="redshift")
    assert [t.text for t in tokens if t.token_type is TokenType.STRING] != ["x\\' or 1=1 --"]
