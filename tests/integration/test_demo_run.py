"""`airflow dags test` on the demo pipeline: real Airflow, real dbt, a real DuckDB file."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

import pytest

from tests.integration.conftest import Sandbox, query

pytestmark = pytest.mark.integration
DAG = "payments_daily"


def seed(box: Sandbox, name: str) -> list[dict[str, str]]:
    with (box.dbt / "seeds" / f"{name}.csv").open() as handle:
        return list(csv.DictReader(handle))


def expected_volumes(box: Sandbox) -> set[tuple[int, str, int, Decimal]]:
    totals: dict[tuple[int, str], list[Decimal]] = defaultdict(list)
    for row in seed(box, "raw_card_transactions"):
        if row["status"] == "approved":
            totals[(int(row["merchant_id"]), row["transaction_at"][:10])].append(Decimal(row["amount"]))
    return {(m, day, len(v), sum(v, Decimal(0))) for (m, day), v in totals.items()}


def expected_balances(box: Sandbox) -> dict[int, Decimal]:
    owner = {row["account_id"]: int(row["customer_id"]) for row in seed(box, "raw_accounts")}
    balance = {int(row["customer_id"]): Decimal(0) for row in seed(box, "raw_customers")}
    for row in seed(box, "raw_payment_events"):
        sign = -1 if row["event_type"] == "withdrawal" else 1
        balance[owner[row["account_id"]]] += sign * Decimal(row["amount"])
    for row in seed(box, "raw_card_transactions"):
        if row["status"] == "approved":
            balance[owner[row["account_id"]]] -= Decimal(row["amount"])
    return balance


def test_demo_pipeline_builds_gold_marts_with_the_expected_rows(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox()
    done = box.airflow("dags", "test", DAG)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    states = box.task_states(DAG)
    assert states and set(states.values()) == {"success"}, {k: v for k, v in states.items() if v != "success"}
    assert {"bronze.gateway", "silver.gateway", "gold.publish"} <= set(states)
    # one dbt build per zone in the warm worker answered the model and test tasks
    assert log.count("answered from this DAG run's build of the zone") == sum(
        1 for t in states if t.endswith(("_run", "_test", "_seed", "_snapshot"))
    )

    volumes = query(
        box.duckdb,
        "select merchant_id, cast(txn_date as varchar), txn_count, total_amount "
        "from gold.merchant_daily_volumes",
    )
    assert set(volumes) == expected_volumes(box)

    balances = dict(query(box.duckdb, "select customer_id, balance from gold.customer_balances"))
    assert balances == expected_balances(box)

    flags = query(box.duckdb, "select transaction_id from gold.fraud_flags where is_high_value_burst")
    burst = {
        int(r["transaction_id"])
        for r in seed(box, "raw_card_transactions")
        if r["account_id"] == "103" and Decimal(r["amount"]) >= 500
    }
    assert len(burst) >= 3
    assert {t for (t,) in flags} == burst
    # re-running one model's task (as clearing it in the UI does) rebuilds that model only
    again = box.airflow("tasks", "test", DAG, "silver.customers_run")
    output = again.stdout + again.stderr
    rebuilt = [line for line in output.splitlines() if " OK created " in line]
    assert again.returncode == 0 and len(rebuilt) == 1, output[-3000:]
    assert "silver.customers" in rebuilt[0]
    # the snapshot and the incremental model were built in silver
    assert query(box.duckdb, "select count(*) from silver.accounts_snapshot")[0][0] == len(
        seed(box, "raw_accounts")
    )
    assert query(box.duckdb, "select count(*) from silver.card_transactions")[0][0] == len(
        seed(box, "raw_card_transactions")
    )


def test_failing_bronze_test_stops_silver_and_gold_but_not_other_branches(
    sandbox: Callable[..., Sandbox],
) -> None:
    box = sandbox()
    transactions = box.dbt / "seeds" / "raw_card_transactions.csv"
    lines = transactions.read_text().splitlines()
    transactions.write_text("\n".join([*lines, lines[1]]) + "\n")  # a duplicated transaction_id

    done = box.airflow("dags", "test", DAG)
    log = done.stdout + done.stderr
    assert done.returncode != 0, "a failed run fails `airflow dags test`"
    states = box.task_states(DAG)
    assert states["bronze.raw_card_transactions_test"] == "failed"
    assert "Failure in test unique_raw_card_transactions_transaction_id" in log, "dbt's own error line"
    assert states["bronze.stg_card_transactions_run"] == "upstream_failed"
    # unrelated bronze branches went on
    for task in ("bronze.stg_customers_test", "bronze.stg_accounts_test", "bronze.stg_payment_events_test"):
        assert states[task] == "success", task
    assert states["bronze.gateway"] == "upstream_failed"
    for task, state in states.items():
        if task.startswith(("silver.", "gold.")):
            assert state in (None, "upstream_failed", "skipped"), f"{task} ran: {state}"
    schemas = {row[0] for row in query(box.duckdb, "select table_schema from information_schema.tables")}
    assert "bronze" in schemas and not schemas & {"silver", "gold"}
