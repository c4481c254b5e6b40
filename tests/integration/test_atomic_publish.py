"""Atomic publish under real Airflow and dbt, on DuckDB and on the local PostgreSQL: readers never
see a half-published zone, a failed test leaves live untouched, the next good run publishes."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from sluice.runtime.file_locks import duckdb_lock_path
from tests.conftest import REPO
from tests.integration.conftest import BIN, Sandbox, scratch_postgres

pytestmark = pytest.mark.integration
DAG = "atomic_orders"
PROJECT = Path(__file__).parent / "atomic_project"
GOLD = ("daily_totals", "customer_totals", "order_history")

# On DuckDB one process may write the file and nobody else may open it meanwhile, so a reader
# takes sluice's lock for the file, as any local reader should, and reads between dbt's writes.
READER = r"""
import fcntl, json, os, sys, time
engine, where, out, lock = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
sql = ("select (select sum(total) from gold.daily_totals), (select sum(total) from gold.customer_totals)")
seen = []
while True:
    try:
        if engine == "duckdb":
            import duckdb
            with open(lock, "a") as held:
                fcntl.flock(held, fcntl.LOCK_EX)
                with duckdb.connect(where, read_only=True) as con:
                    row = con.execute(sql).fetchone()
        else:
            import psycopg2
            with psycopg2.connect(where) as con, con.cursor() as cur:
                cur.execute(sql)
                row = cur.fetchone()
            con.close()
        if row[0] is not None:
            seen.append([int(row[0]), int(row[1] or 0)])
    except Exception:
        pass  # DuckDB is locked while dbt writes, or gold does not exist yet: ask again
    # replace, never rewrite in place: the test may read the file at any moment
    with open(out + ".tmp", "w") as handle:
        json.dump(seen, handle)
    os.replace(out + ".tmp", out)
    time.sleep(0.02)
"""


class Warehouse:
    """Queries on the test's warehouse, the same way for DuckDB and PostgreSQL."""

    def __init__(self, engine: str, box: Sandbox, dsn: str = "") -> None:
        self.engine, self.box, self.dsn = engine, box, dsn

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.engine == "duckdb":
            import duckdb

            with duckdb.connect(str(self.box.duckdb), read_only=True) as con:
                return con.execute(sql).fetchall()
        with contextlib.closing(psycopg2.connect(self.dsn)) as con, con.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def write(self, sql: str) -> None:
        if self.engine == "duckdb":
            import duckdb

            with duckdb.connect(str(self.box.duckdb)) as con:
                con.execute(sql)
            return
        with contextlib.closing(psycopg2.connect(self.dsn)) as con, con.cursor() as cur:
            cur.execute(sql)
            con.commit()

    def schemas(self) -> set[str]:
        return {r[0] for r in self.rows("select schema_name from information_schema.schemata")}

    def checksums(self, schema: str = "gold") -> dict[str, tuple[Any, ...]]:
        """Per table: row count and an order-independent digest of every row's text."""
        out = {}
        for table in GOLD:
            digest = "md5(string_agg(md5(t::text), ',' order by md5(t::text)))"
            if self.engine == "duckdb":
                digest = "md5(string_agg(md5(cast(t as varchar)), ',' order by md5(cast(t as varchar))))"
            out[table] = self.rows(f"select count(*), {digest} from {schema}.{table} t")[0]
        return out

    def totals(self, schema: str = "gold") -> tuple[int, int]:
        a = self.rows(f"select sum(total) from {schema}.daily_totals")[0][0]
        b = self.rows(f"select sum(total) from {schema}.customer_totals")[0][0]
        return int(a), int(b)


@contextlib.contextmanager
def reader(wh: Warehouse, tmp: Path) -> Iterator[Callable[[], list[list[int]]]]:
    out = tmp / f"reads-{uuid.uuid4().hex[:6]}.json"
    where = str(wh.box.duckdb) if wh.engine == "duckdb" else wh.dsn
    lock = duckdb_lock_path(wh.box.duckdb)
    proc = subprocess.Popen([sys.executable, "-c", READER, wh.engine, where, str(out), str(lock)])
    try:
        yield lambda: json.loads(out.read_text()) if out.exists() else []
    finally:
        proc.kill()
        proc.wait()


def write_orders(box: Sandbox, rows: list[tuple[int, int, int, str]]) -> None:
    lines = ["order_id,customer_id,amount,order_date", *(",".join(map(str, r)) for r in rows)]
    (box.root / "atomic" / "seeds" / "orders.csv").write_text("\n".join(lines) + "\n")


BASE = [
    (1, 10, 100, "2026-11-01"),
    (2, 11, 250, "2026-11-01"),
    (3, 10, 75, "2026-11-02"),
    (4, 12, 40, "2026-11-03"),
]
MORE = [(5, 11, 60, "2026-11-04"), (6, 13, 500, "2026-11-04")]
BAD = [(7, 14, -900, "2026-11-05")]  # customer 14's total goes negative: a blocking gold test fails


def run_dag(box: Sandbox) -> tuple[int, str, dict[str, str | None]]:
    done = box.airflow("dags", "test", DAG)
    return done.returncode, done.stdout + done.stderr, box.task_states(DAG)


def asset_events(box: Sandbox) -> list[str]:
    with sqlite3.connect(box.root / "airflow" / "airflow.db") as db:
        rows = db.execute(
            "select a.uri from asset_event e join asset a on a.id = e.asset_id order by e.id"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def postgres_db() -> Iterator[str]:
    with scratch_postgres("sluice_atomic") as name:
        yield name


def atomic_box(sandbox: Callable[..., Sandbox], spec_changes: dict[str, str] | None = None) -> Sandbox:
    box = sandbox()
    shutil.copytree(PROJECT, box.root / "atomic", ignore=shutil.ignore_patterns("pipeline.yml"))
    # the project takes sluice's macros as any user project would: copied from the demo project
    shutil.copytree(REPO / "dbt" / "macros", box.root / "atomic" / "macros")
    for old in (box.dags / "pipelines").glob("*.yml"):
        old.unlink()
    spec = (PROJECT / "pipeline.yml").read_text()
    for old, new in (spec_changes or {}).items():
        spec = spec.replace(old, new)
    (box.dags / "pipelines" / "atomic.yml").write_text(spec)
    project = str(box.root / "atomic")
    done = box.run(str(BIN / "dbt"), "parse", "--quiet", "--project-dir", project, "--profiles-dir", project)
    assert done.returncode == 0, done.stdout[-2000:]
    return box


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_zone_publishes_all_at_once_keeps_live_on_failure_and_publishes_after_the_fix(
    engine: str, sandbox: Callable[..., Sandbox], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    box = atomic_box(sandbox)
    dsn = ""
    if engine == "postgres":
        db = request.getfixturevalue("postgres_db")
        box.env.update(SLUICE_DBT_TARGET="postgres", ATOMIC_PG_DBNAME=db)
        dsn = f"host=127.0.0.1 user=postgres dbname={db}"
    wh = Warehouse(engine, box, dsn)

    # first publish: no live gold yet
    code, log, states = run_dag(box)
    assert code == 0, log[-4000:]
    assert states["gold.publish"] == "success" and states["gold.stage"] == "success"
    assert wh.totals() == (465, 465)
    assert "gold__staging" not in wh.schemas(), "no staging schema left after a publish"
    assert "x-sluice://atomic_orders/gold" in asset_events(box)
    assert "x-sluice://atomic_orders/gold/customer_totals" in asset_events(box)

    # a reader keeps asking while the next run publishes new totals: both tables move together
    write_orders(box, BASE + MORE)
    with reader(wh, tmp_path) as reads:
        code, log, states = run_dag(box)
        time.sleep(0.3)
        seen = reads()
    assert code == 0, log[-4000:]
    assert wh.totals() == (1025, 1025)
    assert seen, "the reader never got an answer"
    assert all(a == b for a, b in seen), (
        f"a reader saw gold half-published: {[p for p in seen if p[0] != p[1]]}"
    )
    assert {a for a, _ in seen} >= {465, 1025}, "the reader should see the old version, then the new"
    assert asset_events(box).count("x-sluice://atomic_orders/gold") == 2

    # a failing blocking test: live stays byte for byte, staging keeps the new rows
    before = wh.checksums()
    write_orders(box, BASE + MORE + BAD)
    code, log, states = run_dag(box)
    assert code != 0
    assert states["gold.customer_totals_test"] == "failed"
    assert states["gold.publish"] == "failed"
    assert wh.checksums() == before
    assert wh.totals("gold__staging") == (125, 125)  # 1025 - 900: the staged, unpublished version
    assert re.search(r"zone gold NOT published.*Blocked by", log, re.S), log[-3000:]
    assert "_test (failed)" in log
    assert re.search(r"select \* from .*gold__staging.*customer_totals", log)
    blocked_events = asset_events(box).count("x-sluice://atomic_orders/gold")
    assert blocked_events == 2, "a blocked publish announces nothing"

    # the fix: the next run publishes, and the incremental model holds each order once; the zone's
    # lease, left behind by a run this Airflow no longer has, is taken over
    wh.write(
        "update sluice.zone_leases set run_id = 'atomic_orders/manual__gone', taken_at = current_timestamp"
    )
    write_orders(box, BASE + MORE + [(7, 14, 900, "2026-11-05")])
    code, log, states = run_dag(box)
    assert code == 0, log[-4000:]
    assert "taking over the lease of run atomic_orders/manual__gone on schema gold: " in log, log[-4000:]
    assert re.search(r"zone gold: leased to run atomic_orders/manual__\S+", log)
    assert wh.totals() == (1925, 1925)
    history = wh.rows("select order_id, count(*) from gold.order_history group by order_id order by 1")
    assert history == [(i, 1) for i in range(1, 8)]
    assert "gold__staging" not in wh.schemas()


def test_without_atomic_publish_the_same_reader_sees_a_mix(
    sandbox: Callable[..., Sandbox], postgres_db: str, tmp_path: Path
) -> None:
    """The control for the test above: with a barrier gateway, gold tables change one by one."""
    box = atomic_box(sandbox, {"publish: atomic": "publish: barrier"})
    box.env.update(SLUICE_DBT_TARGET="postgres", ATOMIC_PG_DBNAME=postgres_db)
    wh = Warehouse("postgres", box, f"host=127.0.0.1 user=postgres dbname={postgres_db}")
    code, log, _ = run_dag(box)
    assert code == 0, log[-4000:]
    write_orders(box, BASE + MORE)
    with reader(wh, tmp_path) as reads:
        code, log, _ = run_dag(box)
        time.sleep(0.3)
        seen = reads()
    assert code == 0, log[-4000:]
    assert any(a != b for a, b in seen), "expected to catch gold between two table builds"
