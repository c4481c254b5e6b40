"""Atomic publish of a schema with a hostile name, through the real sluice macros and dbt on
DuckDB (whose database, named after the file, is hostile too) and on the local PostgreSQL: the
describe macro finds the schemas, and stage and publish run as the statements they should be."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from sluice.runtime import zone
from sluice.runtime.dbt import DbtCall
from sluice.runtime.lease import Holder
from tests.conftest import REPO
from tests.integration.conftest import scratch_postgres

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).parent / "atomic_project"
SCHEMA = 'o\'brien "x"; drop schema sentinel cascade; --'
STAGING = SCHEMA + "__staging"
RUN = Holder("names/manual__1")
#: what the zone built this run: staging must hold it before a publish
BUILT = [f"{SCHEMA}.daily", f"{SCHEMA}.order history"]


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "atomic"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("pipeline.yml"))
    shutil.copytree(REPO / "dbt" / "macros", root / "macros")
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    monkeypatch.delenv("SLUICE_DBT_TARGET", raising=False)
    return root


@pytest.fixture
def postgres_db() -> Iterator[str]:
    with scratch_postgres("sluice_names") as name:
        yield name


def test_duckdb_zone_with_a_hostile_schema_name_stages_and_publishes_through_dbt(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wh'q x.duckdb"  # dbt-duckdb names the database after the file
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(path))
    live, staging = ident(SCHEMA), ident(STAGING)
    with duckdb.connect(str(path)) as con:
        for sql in (
            "create schema sentinel",
            f"create schema {live}",
            f"create table {live}.daily as select 1 as total",
            f'create table {live}."order history" as select 1 as order_id',
        ):
            con.execute(sql)
    base = DbtCall("run-operation", (), project, project, "local")
    lines: list[str] = []
    zone.stage(base, "gold", [SCHEMA], [f"{SCHEMA}.order history"], RUN, lines.append)
    with duckdb.connect(str(path)) as con:
        con.execute(f"create table {staging}.daily as select 2 as total")
        con.execute(f'insert into {staging}."order history" values (2)')
        con.execute(f"create view {staging}.v as select total from {staging}.daily")
    zone.publish(base, "gold", [SCHEMA], BUILT, RUN, lines.append)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute(f"select total from {live}.v").fetchall() == [(2,)]
        history = con.execute(f'select order_id from {live}."order history" order by 1').fetchall()
        schemata = {
            r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()
        }
    assert history == [(1,), (2,)], "the incremental model built on its copied history"
    assert STAGING not in schemata and {"sentinel", SCHEMA} <= schemata


def test_postgres_zone_with_a_hostile_schema_name_stages_and_publishes_through_dbt(
    project: Path, postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATOMIC_PG_DBNAME", postgres_db)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(project / "unused.duckdb"))
    live, staging = ident(SCHEMA), ident(STAGING)
    dsn = f"host=127.0.0.1 user=postgres dbname={postgres_db}"

    def run(*statements: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(psycopg2.connect(dsn)) as con, con, con.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
            return list(cur.fetchall()) if cur.description else []

    run(
        "create schema sentinel",
        f"create schema {live}",
        f"create table {live}.daily as select 1 as total",
        f'create table {live}."order history" as select 1 as order_id',
    )
    base = DbtCall("run-operation", (), project, project, "postgres")
    lines: list[str] = []
    zone.stage(base, "gold", [SCHEMA], [f"{SCHEMA}.order history"], RUN, lines.append)
    run(
        f"create table {staging}.daily as select 2 as total",
        f'insert into {staging}."order history" values (2)',
    )
    zone.publish(base, "gold", [SCHEMA], BUILT, RUN, lines.append)
    assert run(f"select total from {live}.daily") == [(2,)]
    assert run(f'select order_id from {live}."order history" order by 1') == [(1,), (2,)]
    schemata = {r[0] for r in run("select schema_name from information_schema.schemata")}
    assert {"sentinel", SCHEMA} <= schemata
    assert not {STAGING, SCHEMA + "__sluice_retired"} & schemata
