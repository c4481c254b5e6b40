"""The zone lease's SQL (valid on each engine, run for real on an in-memory DuckDB) and the
publish task's check that staging holds every relation the run built."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pytest
import sqlglot

from sluice.runtime import lease
from sluice.runtime.lease import Holder
from sluice.runtime.publish import PublishError, Warehouse, publish_sql, publisher_for
from tests.unit.test_atomic_publish import plan_of, shop

ZONE = ["gold", "gold_marts"]


def every_statement(now: str = lease.NOW) -> list[str]:
    return [
        *lease.ensure_sql(),
        *lease.claim_sql(ZONE, "gold", "dag/run_1", ["dag/run_0"], now),
        *lease.refresh_sql(ZONE, "dag/run_1", now),
        *lease.release_sql(ZONE, "dag/run_1"),
        lease.leases_sql(ZONE, 24, now),
    ]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "redshift"])
def test_lease_statements_are_valid_sql_of_each_engine(dialect: str) -> None:
    clock = publisher_for(dialect).clock
    for sql in every_statement(clock):
        assert sqlglot.parse_one(sql, read=dialect) is not None, sql


def test_redshift_lease_never_reads_the_leader_node_only_clock() -> None:
    """Redshift refuses CURRENT_TIMESTAMP (a leader-node-only function) in a statement on a user
    table; the lease writes and compares GETDATE() there instead."""
    statements = every_statement(publisher_for("redshift").clock)
    assert not [sql for sql in statements if "current_timestamp" in sql.lower()]
    assert sum("getdate()" in sql for sql in statements) == 3  # claim, refresh, the stale test
    assert sum("current_timestamp" in sql for sql in every_statement()) == 3


class Db:
    """An in-memory DuckDB behind the lease's Query: statements in one transaction, then a query."""

    def __init__(self) -> None:
        self.con = duckdb.connect(":memory:")
        self.guard = threading.Lock()

    def query(self, statements: Sequence[str], sql: str) -> list[list[str | None]]:
        with self.guard:
            self.con.execute("begin transaction")
            for statement in statements:
                self.con.execute(statement)
            self.con.execute("commit")
            return [[None if v is None else str(v) for v in row] for row in self.con.execute(sql).fetchall()]

    def holders(self) -> dict[str, str | None]:
        with self.guard:
            rows = self.con.execute(f"select schema_name, run_id from {lease.TABLE}").fetchall()
        return {str(s): r for s, r in rows}


@pytest.fixture
def db() -> Iterator[Db]:
    found = Db()
    yield found
    found.con.close()


def take(db: Db, holder: Holder, schemas: Sequence[str] = ZONE, log: list[str] | None = None) -> None:
    lease.acquire(db.query, schemas, "gold", holder, (log if log is not None else []).append, False)


def test_a_free_zone_is_leased_and_a_second_run_fails_naming_the_holder(db: Db) -> None:
    take(db, Holder("dag/A"))
    assert db.holders() == {"gold": "dag/A", "gold_marts": "dag/A"}
    take(db, Holder("dag/A"))  # a retry of the same run's stage keeps its lease
    with pytest.raises(PublishError) as caught:
        take(db, Holder("dag/B", wait_s=0))
    assert re.fullmatch(
        r"zone gold not staged: schema gold is leased by run dag/A \(zone gold, since \S+ \S+\), "
        r"which is still running; waited 0 s \(SLUICE_ZONE_LEASE_WAIT=0\); "
        r"live and its staging are untouched",
        str(caught.value),
    ), str(caught.value)
    assert db.holders() == {"gold": "dag/A", "gold_marts": "dag/A"}


def test_half_a_zone_is_never_taken(db: Db) -> None:
    take(db, Holder("dag/A"), ["gold_marts"])
    with pytest.raises(PublishError, match="schema gold_marts is leased by run dag/A"):
        take(db, Holder("dag/B", wait_s=0))
    assert db.holders() == {"gold": None, "gold_marts": "dag/A"}, "B must not keep gold while it waits"


def test_a_second_run_waits_while_the_holder_runs_and_gets_the_zone_when_it_is_given_back(db: Db) -> None:
    take(db, Holder("dag/A"))
    log: list[str] = []
    freed = threading.Timer(0.3, lambda: db.query(lease.release_sql(ZONE, "dag/A"), "select 1"))
    freed.start()
    take(db, Holder("dag/B", wait_s=30, poll_s=0.05), log=log)
    freed.join()
    assert log[0].startswith("zone gold: waiting for the lease: schema gold is leased by run dag/A")
    assert log[-1] == "zone gold: leased to run dag/B"
    assert db.holders() == {"gold": "dag/B", "gold_marts": "dag/B"}


@pytest.mark.parametrize(
    ("holder", "why"),
    [
        (
            Holder("dag/B", is_live=lambda run: run != "dag/A", wait_s=0),
            "its run is neither queued nor running",
        ),
        (Holder("dag/B", wait_s=0, max_age_h=0), "older than 0 h (SLUICE_ZONE_LEASE_MAX_AGE)"),
    ],
)
def test_the_lease_of_a_finished_or_too_old_run_is_taken_over(db: Db, holder: Holder, why: str) -> None:
    take(db, Holder("dag/A"))
    log: list[str] = []
    take(db, holder, log=log)
    assert f"taking over the lease of run dag/A on schema gold: {why}" in log
    assert db.holders() == {"gold": "dag/B", "gold_marts": "dag/B"}


def test_publish_check_passes_for_the_holder_and_names_the_run_that_took_over(db: Db) -> None:
    take(db, Holder("dag/A"))
    lease.check(db.query, ZONE, "gold", Holder("dag/A"))
    take(db, Holder("dag/B", is_live=lambda run: False))
    with pytest.raises(PublishError) as caught:
        lease.check(db.query, ZONE, "gold", Holder("dag/A"))
    assert str(caught.value).startswith(
        "zone gold not published: this run (dag/A) no longer holds its lease: "
        "schema gold is leased by run dag/B (zone gold, since "
    )


def staged(engine: str, names: Sequence[str]) -> Warehouse:
    schemas: dict[str, Any] = {
        "gold": {"exists": True, "relations": [{"name": "daily", "type": "table"}]},
        "gold__staging": {"exists": True, "relations": [{"name": n, "type": "table"} for n in names]},
    }
    return Warehouse.from_result({"type": engine, "database": "ANALYTICS", "schemas": schemas})


def test_publish_refuses_staging_that_lacks_a_relation_the_run_built() -> None:
    built = ["gold.by_customer", "gold.daily", "gold.history"]
    with pytest.raises(PublishError) as caught:
        publish_sql(staged("postgres", ["daily"]), ["gold"], built)
    assert str(caught.value) == (
        'staging lacks 2 relation(s) this run built: "gold__staging"."by_customer", '
        '"gold__staging"."history"; it is not this run\'s staging copy, so live stays as it was'
    )
    # Snowflake lists names in upper case: the same relations, all there
    assert publish_sql(staged("snowflake", ["BY_CUSTOMER", "DAILY", "HISTORY"]), ["gold"], built)


def test_the_publish_task_knows_every_relation_its_zone_builds() -> None:
    tasks = plan_of(shop()).by_id()
    assert tasks["gold.publish"].arguments.relations == ("gold.by_customer", "gold.daily", "gold.history")
    assert tasks["gold.stage"].arguments.relations == ()


def test_no_literal_holds_a_quote_or_a_backslash_whatever_the_run_id(db: Db) -> None:
    odd = "dag/manual__it's \\ 'quoted'"
    for sql in lease.claim_sql(["gold"], "gold", odd)[1:] + lease.release_sql(["gold"], odd):
        assert "it's" not in sql and "\\" not in sql
        assert "'dag/manual__it%27s%20%5C%20%27quoted%27'" in sql
    take(db, Holder(odd), ["gold"])
    with pytest.raises(PublishError, match=re.escape(f"leased by run {odd} (zone gold")):
        take(db, Holder("dag/B", wait_s=0), ["gold"])
