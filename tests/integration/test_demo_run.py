"""`airflow dags test` on the demo pipeline: real Airflow, real dbt, a real DuckDB file."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from deploy.local_events import demo_files

from tests.integration.conftest import Sandbox, query

pytestmark = pytest.mark.integration
DAG = "payments_daily"
#: the demo DAG run as `airflow dags test` runs it, always under run id manual__2026-11-02T00:00:00+00:00
#: (run_after fixes it): an earlier run with that id is deleted first, as from the UI, and the
#: logical date, which `dags test` also takes as the run's start, moves on by {hours} hours
SAME_RUN_ID = """
from datetime import datetime, timedelta, timezone
from sqlalchemy import select
from airflow.dag_processing.dagbag import DagBag
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
when = datetime(2026, 11, 2, tzinfo=timezone.utc)
with create_session() as session:
    for old in session.scalars(select(DagRun).where(DagRun.run_id.like("manual__2026-11-02%"))):
        session.delete(old)
dag = DagBag().dags["payments_daily"]
run = dag.test(run_after=when, logical_date=when + timedelta(hours={hours}))
print("RUN", run.run_id, run.state)
"""
RULE_COLUMNS = (
    ("burst", "is_high_value_burst"),
    ("foreign", "is_foreign_country"),
    ("closed", "is_closed_account"),
)
EUROPE = {"AT", "BE", "CH", "DE", "ES", "FR", "GB", "IT", "NL", "PT", "SE"}


def payment_statuses(box: Sandbox) -> None:
    """The demo's event stream, as deploy/local_events.py put it in the local S3: every valid
    event in the raw table, the one its schema refuses in quarantine with the reason, and each
    purchase's latest status in silver."""
    events = [
        json.loads(line) for body in demo_files(datetime.now(UTC)).values() for line in body.splitlines()
    ]
    good = [e for e in events if e["status"] != "lost"]
    assert query(box.duckdb, "select count(*) from raw_events.payment_status")[0][0] == len(good)
    (reason,) = query(box.duckdb, "select reason from raw_events.payment_status_quarantine")
    assert reason[0].startswith("schema v1: status: 'lost' is not one of"), reason
    latest: dict[int, dict[str, Any]] = {}
    for e in sorted(good, key=lambda e: (e["occurred_at"], e["event_id"])):
        latest[e["purchase_id"]] = e
    found = dict(query(box.duckdb, "select purchase_id, status from silver.payment_statuses"))
    assert found == {p: e["status"] for p, e in latest.items()}


def seed(box: Sandbox, name: str) -> list[dict[str, str]]:
    with (box.dbt / "seeds" / f"{name}.csv").open() as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class Txn:
    transaction_id: int
    account_id: int
    merchant_id: int
    merchant_country: str
    amount: Decimal
    at: datetime
    approved: bool


def card_transactions(box: Sandbox) -> list[Txn]:
    """The shop's purchases as card transactions, worked out here from the raw tables the sync
    wrote and the seeds: charged to the buyer's lowest account, the product's price, the make's
    merchant, approved when paid."""
    primary: dict[int, int] = {}
    for row in seed(box, "raw_accounts"):
        customer, account = int(row["customer_id"]), int(row["account_id"])
        primary[customer] = min(account, primary.get(customer, account))
    merchants = {row["make"]: row for row in seed(box, "ref_merchants")}
    products = dict(query(box.duckdb, "select id, struct_pack(make, price) from raw.products"))
    rows = query(
        box.duckdb,
        "select id, user_id, product_id, purchased_at, added_to_cart_at, created_at from raw.purchases",
    )
    txns = []
    for pid, user, product, paid, carted, created in rows:
        merchant = merchants[products[product]["make"]]
        at = next(t for t in (paid, carted, created) if t is not None)
        txns.append(
            Txn(
                pid,
                primary[user],
                int(merchant["merchant_id"]),
                merchant["merchant_country"],
                Decimal(str(products[product]["price"])).quantize(Decimal("0.01")),
                at.astimezone(UTC).replace(tzinfo=None),
                paid is not None,
            )
        )
    return txns


def expected_volumes(txns: list[Txn]) -> set[tuple[int, str, int, Decimal]]:
    totals: dict[tuple[int, str], list[Decimal]] = defaultdict(list)
    for t in txns:
        if t.approved:
            totals[(t.merchant_id, t.at.date().isoformat())].append(t.amount)
    return {(m, day, len(v), sum(v, Decimal(0))) for (m, day), v in totals.items()}


def expected_balances(box: Sandbox, txns: list[Txn]) -> dict[int, Decimal]:
    owner = {int(row["account_id"]): int(row["customer_id"]) for row in seed(box, "raw_accounts")}
    balance = {user: Decimal(0) for (user,) in query(box.duckdb, "select id from raw.users")}
    for row in seed(box, "raw_payment_events"):
        sign = -1 if row["event_type"] == "withdrawal" else 1
        balance[owner[int(row["account_id"])]] += sign * Decimal(row["amount"])
    for t in txns:
        if t.approved:
            balance[owner[t.account_id]] -= t.amount
    return balance


def expected_flags(box: Sandbox, txns: list[Txn]) -> dict[str, set[int]]:
    owner = {int(row["account_id"]): int(row["customer_id"]) for row in seed(box, "raw_accounts")}
    closed = {int(row["account_id"]) for row in seed(box, "raw_accounts") if row["status"] == "closed"}
    country = dict(query(box.duckdb, "select id, upper(address->>'country_code') from raw.users"))
    approved = [t for t in txns if t.approved]
    per_hour = Counter((t.account_id, t.at.replace(minute=0, second=0)) for t in approved if t.amount >= 500)
    return {
        "burst": {
            t.transaction_id
            for t in approved
            if t.amount >= 500 and per_hour[(t.account_id, t.at.replace(minute=0, second=0))] >= 3
        },
        "foreign": {
            t.transaction_id
            for t in approved
            if t.merchant_country != country[owner[t.account_id]] and t.merchant_country not in EUROPE
        },
        "closed": {t.transaction_id for t in approved if t.account_id in closed},
    }


def test_demo_pipeline_builds_gold_marts_with_the_expected_rows(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox()
    done = box.python(SAME_RUN_ID.format(hours=0))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    states = box.task_states(DAG)
    assert states and set(states.values()) == {"success"}, {k: v for k, v in states.items() if v != "success"}
    assert {"bronze.gateway", "silver.gateway", "gold.publish"} <= set(states)
    # the ingest task started the live dbt worker, the first dbt task gold's staging one
    assert "starting a dbt worker" not in log
    # one dbt build per zone answered the model and test tasks: through the zone build task's
    # XComs, read by the trigger; `dags test` runs tasks one by one, so a zone's first tasks may
    # come before its build task and are answered by the same build in the warm worker instead
    dbt_tasks = sum(1 for t in states if t.endswith(("_run", "_test", "_seed", "_snapshot")))
    from_xcom = log.count("answered from the zone build task")
    from_worker = log.count("answered from this DAG run's build of the zone")
    assert from_xcom + from_worker == dbt_tasks, (from_xcom, from_worker)
    assert from_xcom > dbt_tasks / 2, "the tasks after a zone's first ones read the build task's results"
    assert {states[f"{z}.build"] for z in ("bronze", "silver", "gold")} == {"success"}

    txns = card_transactions(box)
    assert len(txns) == query(box.duckdb, "select count(*) from raw.purchases")[0][0] > 0
    assert query(box.duckdb, "select count(*) from silver.card_transactions")[0][0] == len(txns)
    payment_statuses(box)
    volumes = query(
        box.duckdb,
        "select merchant_id, cast(txn_date as varchar), txn_count, total_amount "
        "from gold.merchant_daily_volumes",
    )
    assert set(volumes) == expected_volumes(txns)

    balances = dict(query(box.duckdb, "select customer_id, balance from gold.customer_balances"))
    assert balances == expected_balances(box, txns)

    flags = expected_flags(box, txns)
    assert flags["foreign"] and flags["closed"], "the demo data trips the fraud rules"
    for rule, column in RULE_COLUMNS:
        flagged = query(box.duckdb, f"select transaction_id from gold.fraud_flags where {column}")
        assert {t for (t,) in flagged} == flags[rule], rule
    # gold's publish log reads as sentences: what went live, with row counts; dbt's banner and the
    # macros' raw answers stay out of it
    assert "zone gold: published 3 relation(s) live at once" in log
    assert f"gold.customer_balances (table): {len(balances)} rows" in log
    assert "SLUICE-RESULT" not in log and "run-operation sluice_describe" not in log
    # re-running one model's task (as clearing it in the UI does) rebuilds that model only
    again = box.airflow("tasks", "test", DAG, "silver.customers_run")
    output = again.stdout + again.stderr
    rebuilt = [line for line in output.splitlines() if " OK created " in line]
    assert again.returncode == 0 and len(rebuilt) == 1, output[-3000:]
    assert "silver.customers" in rebuilt[0]
    # the snapshot was built in silver
    assert query(box.duckdb, "select count(*) from silver.accounts_snapshot")[0][0] == len(
        seed(box, "raw_accounts")
    )
    # a new run under the same run id (a deleted run made again, a reset metadata database)
    # builds again: the warm workers must not answer it from the earlier run's zone builds
    with duckdb.connect(str(box.duckdb)) as con:
        con.execute("drop schema silver cascade")
    rerun = box.python(SAME_RUN_ID.format(hours=1))
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    assert "RUN manual__2026-11-02T00:00:00+00:00 success" in rerun.stdout, rerun.stdout[-2000:]
    assert query(box.duckdb, "select count(*) from silver.card_transactions")[0][0] == len(txns)


def test_failing_bronze_test_stops_silver_and_gold_but_not_other_branches(
    sandbox: Callable[..., Sandbox],
) -> None:
    box = sandbox()
    accounts = box.dbt / "seeds" / "raw_accounts.csv"
    lines = accounts.read_text().splitlines()
    accounts.write_text("\n".join([*lines, lines[1]]) + "\n")  # a duplicated account_id

    done = box.airflow("dags", "test", DAG)
    log = done.stdout + done.stderr
    assert done.returncode != 0, "a failed run fails `airflow dags test`"
    states = box.task_states(DAG)
    assert states["bronze.raw_accounts_test"] == "failed"
    # the test's own task failed, with dbt's error for the node (its result's message), read from
    # the zone build's results; the build ran to its end and fails too, naming the node, so that
    # the next zone's build does not start
    assert "FAIL 1 unique_raw_accounts_account_id" in log, "dbt's own lines for the node"
    assert "fqn:payments.unique_raw_accounts_account_id fail: Got 1 result" in log, "dbt's error line"
    assert states["bronze.build"] == "failed"
    assert states["silver.build"] == "upstream_failed"
    assert states["bronze.stg_accounts_run"] == "upstream_failed"
    assert states["bronze.stg_card_transactions_run"] == "upstream_failed"
    # unrelated bronze branches went on
    for task in ("bronze.stg_customers_test", "bronze.stg_payment_events_test"):
        assert states[task] == "success", task
    assert states["bronze.gateway"] == "upstream_failed"
    for task, state in states.items():
        if task.startswith(("silver.", "gold.")):
            assert state in (None, "upstream_failed", "skipped"), f"{task} ran: {state}"
    schemas = {row[0] for row in query(box.duckdb, "select table_schema from information_schema.tables")}
    assert "bronze" in schemas and not schemas & {"silver", "gold"}
