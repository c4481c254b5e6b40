"""Two DAG runs overlapping on one atomic zone, with real dbt on DuckDB and PostgreSQL: run B's
stage lands between run A's build and run A's publish. B must not empty A's staging copy, and A
must never publish a staging copy that is not its own: live gold keeps its rows."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from sluice.runtime import lease, zone
from sluice.runtime.dbt import DbtCall, DbtProcess
from sluice.runtime.lease import Holder
from sluice.runtime.publish import PublishError, stage_sql
from tests.conftest import REPO
from tests.integration.conftest import query, scratch_postgres

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).parent / "atomic_project"
GOLD = ("gold.customer_totals", "gold.daily_totals", "gold.order_history")
KEEP = ("gold.order_history",)
A = Holder("atomic_orders/scheduled__A", wait_s=0)
B = Holder("atomic_orders/manual__B", wait_s=0)


class Project:
    """The atomic test project on one engine, driven step by step as a DAG run's tasks would."""

    def __init__(self, root: Path, target: str, dsn: str, duckdb: Path) -> None:
        self.root, self.target, self.dsn, self.duckdb = root, target, dsn, duckdb
        self.log: list[str] = []
        self.base = DbtCall("run-operation", (), root, root, target)

    def dbt(self, command: str, select: str, staged: bool = False) -> None:
        dbt_vars = '{"sluice_staging": ["gold"]}' if staged else None
        DbtProcess(DbtCall(command, (select,), self.root, self.root, self.target, vars=dbt_vars)).run(
            self.log.append
        )

    def stage(self, holder: Holder) -> None:
        zone.stage(self.base, "gold", ["gold"], KEEP, holder, self.log.append)

    def publish(self, holder: Holder) -> None:
        zone.publish(self.base, "gold", ["gold"], GOLD, holder, self.log.append)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.target == "local":
            return query(self.duckdb, sql)
        with contextlib.closing(psycopg2.connect(self.dsn)) as con, con.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def gold(self, schema: str = "gold") -> dict[str, int]:
        """Rows per gold table of ``schema``; a missing table counts -1."""
        found = {
            name
            for (name,) in self.rows(
                f"select table_name from information_schema.tables where table_schema = '{schema}'"
            )
        }
        return {
            t: self.rows(f"select count(*) from {schema}.{t.split('.')[1]}")[0][0]
            if t.split(".")[1] in found
            else -1
            for t in GOLD
        }


@pytest.fixture(params=["duckdb", "postgres"])
def project(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    root = tmp_path / "atomic"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("pipeline.yml"))
    shutil.copytree(REPO / "dbt" / "macros", root / "macros")
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    monkeypatch.delenv("SLUICE_DBT_TARGET", raising=False)
    if request.param == "duckdb":
        yield Project(root, "local", "", tmp_path / "w.duckdb")
        return
    with scratch_postgres("sluice_lease") as name:
        monkeypatch.setenv("ATOMIC_PG_DBNAME", name)
        yield Project(root, "postgres", f"host=127.0.0.1 user=postgres dbname={name}", tmp_path / "w.duckdb")


def live_gold(p: Project) -> dict[str, int]:
    """Seed, bronze, and a first publish of gold by an earlier run; the live row counts."""
    p.dbt("seed", "path:seeds")
    p.dbt("run", "path:models/bronze")
    first = Holder("atomic_orders/scheduled__0")
    p.stage(first)
    p.dbt("run", "path:models/gold", staged=True)
    p.publish(first)
    live = p.gold()
    assert live == {"gold.customer_totals": 3, "gold.daily_totals": 3, "gold.order_history": 4}
    return live


def test_a_second_run_waits_for_the_zone_and_fails_naming_the_run_that_holds_it(project: Project) -> None:
    p = project
    live = live_gold(p)
    p.stage(A)
    p.dbt("run", "path:models/gold", staged=True)
    staged = p.gold("gold__staging")

    # B's stage lands between A's build and A's publish: it must not empty A's staging
    with pytest.raises(PublishError) as caught:
        zone.stage(p.base, "gold", ["gold"], KEEP, Holder(B.run, wait_s=1, poll_s=0.2), p.log.append)
    message = str(caught.value)
    assert message.startswith("zone gold not staged: schema gold is leased by run atomic_orders/scheduled__A")
    assert "\n" not in message
    assert any(
        line.startswith("zone gold: waiting for the lease: schema gold is leased by run") for line in p.log
    )
    assert p.gold("gold__staging") == staged, "B's stage emptied A's staging copy"
    assert p.gold() == live

    # A publishes its own build; then the zone is free for B
    p.publish(A)
    assert p.gold() == staged
    p.stage(B)
    assert any(line == f"zone gold: leased to run {B.run}" for line in p.log)


def test_a_run_never_publishes_a_staging_copy_another_run_took_over(project: Project) -> None:
    """The interleaving of the issue: B takes the zone over (A looks finished to B's Airflow)
    and empties staging; A's publish then refuses, and live gold keeps every row."""
    p = project
    live = live_gold(p)
    p.stage(A)
    p.dbt("run", "path:models/gold", staged=True)

    p.log.clear()
    p.stage(Holder(B.run, is_live=lambda run: False, wait_s=0))
    assert (
        f"taking over the lease of run {A.run} on schema gold: its run is neither queued nor running" in p.log
    )
    assert p.gold("gold__staging") == {
        "gold.customer_totals": -1,
        "gold.daily_totals": -1,
        "gold.order_history": 4,  # the incremental model, copied from live
    }

    with pytest.raises(PublishError) as caught:
        p.publish(A)
    assert str(caught.value).startswith(
        f"zone gold not published: this run ({A.run}) no longer holds its lease: "
        f"schema gold is leased by run {B.run} (zone gold, since "
    )
    assert p.gold() == live, "live gold must keep its rows"


@pytest.mark.parametrize("project", ["duckdb"], indirect=True)  # the check reads no engine-specific SQL
def test_staging_that_lacks_what_the_run_built_is_not_published(project: Project) -> None:
    """Even with the lease held: a staging copy emptied behind sluice's back (an older sluice,
    a hand-run stage) does not hold what this run built, and is refused."""
    p = project
    live = live_gold(p)
    p.stage(A)
    p.dbt("run", "path:models/gold", staged=True)
    wh = zone.describe(p.base, ["gold"], p.log.append)
    zone.run_sql(p.base, stage_sql(wh, ["gold"], []), p.log.append)  # empties staging, no lease

    with pytest.raises(
        PublishError, match=r"staging lacks 3 relation\(s\) this run built: .*customer_totals"
    ):
        p.publish(A)
    assert p.gold() == live
    # the failed run keeps its lease until it is no longer running; then the next run takes over
    with pytest.raises(PublishError, match=f"leased by run {A.run}"):
        p.stage(B)
    p.stage(Holder(B.run, is_live=lambda run: False, wait_s=0))


def test_postgres_claims_race_and_exactly_one_run_wins(tmp_path: Path) -> None:
    """Many runs claim one zone at the same instant on PostgreSQL: never more than one holds it."""
    with scratch_postgres("sluice_race") as name:
        dsn = f"host=127.0.0.1 user=postgres dbname={name}"
        with contextlib.closing(psycopg2.connect(dsn)) as con, con.cursor() as cur:
            for sql in lease.ensure_sql():
                cur.execute(sql)
            con.commit()
        # the very first claims of a zone insert its rows at once: duplicates, never two holders
        assert len(_race(dsn, [f"dag/first_{i}" for i in range(6)])) <= 1
        with contextlib.closing(psycopg2.connect(dsn)) as con, con.cursor() as cur:
            cur.execute(f"delete from {lease.TABLE}")
            cur.execute(lease.claim_sql(["gold", "gold_marts"], "gold", "dag/none")[0])
            con.commit()
        # once the rows exist (every later run), exactly one of the racing runs holds the zone
        winners = _race(dsn, [f"dag/run_{i}" for i in range(6)])
        assert len(winners) == 1, winners


def _race(dsn: str, runs: list[str]) -> list[str]:
    """Each run claims ``gold`` and ``gold_marts`` in its own transaction, all released at once."""
    start = threading.Barrier(len(runs))
    winners: list[str] = []

    def claim(run: str) -> None:
        with contextlib.closing(psycopg2.connect(dsn)) as con, con.cursor() as cur:
            start.wait()
            for sql in lease.claim_sql(["gold", "gold_marts"], "gold", run):
                cur.execute(sql)
            con.commit()
            cur.execute(lease.leases_sql(["gold", "gold_marts"], 24))
            leases = lease.parse(cur.fetchall())
            if not lease.held_by_others(leases, ["gold", "gold_marts"], run):
                winners.append(run)

    threads = [threading.Thread(target=claim, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return winners
