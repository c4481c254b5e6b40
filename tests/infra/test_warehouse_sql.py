"""The SQL sluice sends to the warehouses that cannot run here, parsed by sqlfluff's dialect for
each (sqlfluff from .venv-tools, as `make lint-sql` runs it): Redshift's atomic publish, stage,
zone lease and COPY statements, Snowflake's COPY and publish statements, on plain and hostile
names. Each statement must parse whole (sqlfluff exits 1 on any unparsable section) into exactly
the statements it is meant to be; the names and values in them are read back by sqlglot's
tokenizers in tests/unit (test_publish_names.py, test_copy_sql.py, test_zone_lease.py)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from sluice.events.copy_sql import FileFormat, JsonMode, S3Object, redshift_copy, snowflake_copy
from sluice.runtime import lease
from sluice.runtime.publish import Warehouse, publish_sql, publisher_for, stage_sql, staging_name
from sluice.runtime.publish.snowflake import grant_sql, undo_sql
from tests.infra.hcl import REPO
from tests.unit.test_publish_names import describe_queries

SQLFLUFF = REPO / ".venv-tools" / "bin" / "sqlfluff"
ROLE = "arn:aws:iam::123456789012:role/sluice-dev-redshift-copy"
#: names that stress quoting; Snowflake's publish takes only plain names (it refuses the rest)
HOSTILE = ["gold", "o'brien", 'say "hi"', "x; drop schema sentinel cascade; --", "back\\slash", "ünï cödé"]


def parse(statements: list[str], dialect: str, tmp_path: Path) -> list[list[str]]:
    """The top-level statement kinds sqlfluff finds in each statement (one file each)."""
    if not SQLFLUFF.exists():
        pytest.fail(f"{SQLFLUFF} is missing: run `make tools-infra`")
    folder = tmp_path / dialect
    folder.mkdir()
    files = []
    for i, sql in enumerate(statements):
        path = folder / f"{i:03}.sql"
        path.write_text(sql + "\n", encoding="utf-8")
        files.append(str(path))
    done = subprocess.run(
        [str(SQLFLUFF), "parse", "--dialect", dialect, "--templater", "raw", "--format", "json", dialect],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,  # no project .sqlfluff applies
    )
    results = json.loads(done.stdout)
    by_file = {Path(r["filepath"]).name: r["segments"] for r in results}
    bad = [
        f"{statements[i]}: {list(_unparsable(by_file[Path(f).name]))}"
        for i, f in enumerate(files)
        if list(_unparsable(by_file[Path(f).name]))
    ]
    assert not bad and done.returncode == 0, "\n".join(bad) or done.stderr
    return [_kinds(by_file[Path(f).name]) for f in files]


def _unparsable(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "unparsable":
                yield value
            else:
                yield from _unparsable(value)
    elif isinstance(node, list):
        for value in node:
            yield from _unparsable(value)


def _kinds(segments: dict[str, Any]) -> list[str]:
    body = segments["file"]
    parts = body if isinstance(body, list) else [body]
    kinds = []
    for part in parts:
        for key, value in part.items():
            if key == "statement":
                kinds.extend(value.keys())
    return kinds


def described(engine: str, schema: str, live: bool = True) -> Warehouse:
    relations = [{"name": "daily", "type": "table"}]
    return Warehouse.from_result(
        {
            "type": engine,
            "database": "analytics",
            "schemas": {
                schema.lower(): {"exists": live, "relations": relations if live else []},
                staging_name(schema).lower(): {"exists": True, "relations": relations},
            },
        }
    )


def test_redshift_publish_stage_describe_and_lease_sql_parse_as_redshift(tmp_path: Path) -> None:
    statements: list[str] = []
    expected: list[list[str]] = []
    for schema in HOSTILE:
        body, drop = publish_sql(described("redshift", schema), [schema])
        (first,) = publish_sql(described("redshift", schema, live=False), [schema])
        copy = stage_sql(described("redshift", schema), [schema], [f"{schema}.daily"])
        statements += [body, drop, first, *copy]
        expected += [
            [
                "transaction_statement",
                "alter_schema_statement",
                "alter_schema_statement",
                "transaction_statement",
            ],
            ["drop_schema_statement"],
            ["transaction_statement", "alter_schema_statement", "transaction_statement"],
            ["drop_schema_statement"],
            ["create_schema_statement"],
            ["create_table_statement"],
            ["insert_statement"],
        ]
    for schema in HOSTILE:
        statements += describe_queries("redshift", [schema, "gold"])
        expected += [["select_statement"]] * 3
    clock = publisher_for("redshift").clock
    zone = ["gold", "o'brien"]
    statements += [
        *lease.ensure_sql(),
        *lease.claim_sql(zone, "gold", "dag/run'1", ["dag/run_0"], clock),
        *lease.refresh_sql(zone, "dag/run'1", clock),
        *lease.release_sql(zone, "dag/run'1"),
        lease.leases_sql(zone, 24, clock),
    ]
    expected += [
        ["create_schema_statement"],
        ["create_table_statement"],
        ["insert_statement"],
        ["update_statement"],
        ["update_statement"],
        ["update_statement"],
        ["select_statement"],
    ]
    assert parse(statements, "redshift", tmp_path) == expected


def redshift_copies(name: str) -> list[str]:
    table = ["raw", name]
    gz = S3Object("sluice-dev-events", f"payments/{name}.json.gz")
    return [
        redshift_copy(table, gz, FileFormat.JSONL, ROLE),
        redshift_copy(table, gz, FileFormat.JSONL, ROLE, json_mode=JsonMode.NOSHRED, region="eu-west-1"),
        redshift_copy(table, gz, FileFormat.JSONL, "default", json_mode=JsonMode.AUTO_IGNORECASE),
        redshift_copy(table, S3Object("b-1", f"{name}.csv"), FileFormat.CSV, ROLE, columns=[name, "status"]),
        redshift_copy(
            table,
            S3Object("b-1", f"{name}.parquet", size=10),
            FileFormat.PARQUET,
            ROLE,
            manifest_url=f"s3://b-1/_sluice/{name}.manifest",
        ),
    ]


def test_redshift_copy_statements_parse_as_redshift(tmp_path: Path) -> None:
    statements = [sql for name in HOSTILE for sql in redshift_copies(name)]
    assert parse(statements, "redshift", tmp_path) == [["copy_statement"]] * len(statements)


def test_snowflake_copy_and_publish_statements_parse_as_snowflake(tmp_path: Path) -> None:
    copies = [
        snowflake_copy(["ANALYTICS", "RAW", name], ["ANALYTICS", "RAW", "EVENTS_STAGE"], f"p/{name}.x", fmt)
        for name in HOSTILE
        for fmt in FileFormat
    ]
    wh = described("snowflake", "gold")
    first = described("snowflake", "gold", live=False)
    grants = {"gold": [["USAGE", "ROLE", 'r"; x'], ["USAGE", "DATABASE_ROLE", "ANALYTICS.gold reader"]]}
    publish = [
        *publish_sql(wh, ["gold"]),
        *publish_sql(first, ["gold"]),
        *stage_sql(wh, ["gold"], []),
        *undo_sql(wh, ["gold"]),
        *grant_sql(wh, grants),
    ]
    kinds = parse(copies + publish, "snowflake", tmp_path)
    assert kinds[: len(copies)] == [["copy_into_table_statement"]] * len(copies)
    assert kinds[len(copies) :] == [
        ["alter_schema_statement"],  # swap with
        ["drop_schema_statement"],
        ["alter_schema_statement"],  # rename to
        ["create_clone_statement"],
        ["alter_schema_statement"],  # swap back
        ["access_statement"],
        ["access_statement"],
    ]


def test_the_check_fails_on_sql_the_dialect_cannot_parse(tmp_path: Path) -> None:
    """The control: a misspelt format fails the parse, and a quote that ends a name early shows as
    a second statement."""
    with pytest.raises(AssertionError, match=r"unparsable|jsonx"):
        parse(
            ["copy \"raw\".\"e\" from 's3://b-1/k' iam_role default format as jsonx 'auto'"],
            "redshift",
            tmp_path,
        )
    # a name quoted wrongly: valid SQL, but two statements where one was meant
    broken = 'drop schema if exists "x"; drop schema "sentinel" cascade; --" cascade'
    assert parse([broken], "snowflake", tmp_path) == [["drop_schema_statement", "drop_schema_statement"]]


def redshift_macro(name: str, *args: str) -> str:
    """A portable macro of the demo project as dbt-redshift dispatches it: redshift__, then
    postgres__ (its adapter's dependency), then default__."""
    source = (REPO / "dbt" / "macros" / "portable.sql").read_text()
    module = jinja2.Environment(autoescape=False).from_string(source).module  # SQL, not HTML
    for prefix in ("redshift__", "postgres__", "default__"):
        macro = getattr(module, prefix + name, None)
        if macro is not None:
            return str(macro(*args)).strip()
    raise AssertionError(f"no macro {name}")


def test_the_projects_portable_expressions_parse_as_redshift(tmp_path: Path) -> None:
    """The bronze models' expressions that differ per engine, as the redshift target renders
    them (PostgreSQL's jsonb form would not run on Redshift)."""
    expressions = [
        redshift_macro("json_text", "address", "country_code"),
        redshift_macro("utc_timestamp", "created_at"),
    ]
    assert "jsonb" not in expressions[0]
    # RAW is a reserved word on Redshift: dbt-redshift quotes the seeds' schema, and so does this
    statements = [f'select {e} as x from "raw"."customers"' for e in expressions]
    assert parse(statements, "redshift", tmp_path) == [["select_statement"]] * 2
