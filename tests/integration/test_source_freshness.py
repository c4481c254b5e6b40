"""Source freshness under `airflow dags test`: real Airflow, real dbt, a real DuckDB file.

A pipeline of two zones over the demo project: ``ledger`` (a seed, reads no source) and
``bronze`` (stg_customers, which reads the source shop.users: warn after 24 hours, error after
72, loaded_at_field _airbyte_extracted_at). shop.users is written here, as an Airbyte sync
would, with its rows extracted 1, 30 or 100 hours ago."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import duckdb
import pytest

from tests.integration.conftest import Sandbox, query

pytestmark = pytest.mark.integration
DAG = "fresh_check"
SPEC = """\
pipeline: fresh_check
start_date: 2026-01-01
dbt:
  project_dir: ../../dbt
  select: [raw_payment_events, stg_customers]
defaults: {retries: 1, retry_delay_minutes: 0.05}
zones:
  - {name: ledger, select: [raw_payment_events]}
  - {name: bronze, select: [stg_customers]}
"""


def load_users(box: Sandbox, hours_ago: int) -> None:
    """shop.users as the sync leaves it: typed columns and Airbyte's _airbyte_extracted_at."""
    with duckdb.connect(str(box.duckdb)) as con:
        con.execute("create schema if not exists raw")
        con.execute(
            "create or replace table raw.users as select i as id, 'Ada Lovelace ' || i as name, "
            "'ada' || i || '@example.com' as email, json_object('country_code', 'gb') as address, "
            "now() - interval 400 day as created_at, "
            f"now() - interval {hours_ago} hour as _airbyte_extracted_at from range(1, 4) t(i)"
        )


def tries(box: Sandbox, task_id: str) -> int:
    with sqlite3.connect(box.root / "airflow" / "airflow.db") as db:
        (n,) = db.execute(
            "select try_number from task_instance where dag_id = ? and task_id = ? "
            "order by start_date desc limit 1",
            (DAG, task_id),
        ).fetchone()
    return int(n)


def test_fresh_stale_and_expired_sources(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox()
    (box.dags / "pipelines" / f"{DAG}.yml").write_text(SPEC)

    # fresh: the check passes in the warm dbt worker and the zone builds
    load_users(box, 1)
    done = box.airflow("dags", "test", DAG)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    states = box.task_states(DAG)
    assert states["bronze.source_freshness"] == "success"
    assert set(states.values()) == {"success"}, states
    assert "dbt source freshness " in log and "--select source:payments.shop.users (warm dbt worker" in log
    assert "source shop.users is 1.0 hours old" in log and ": fresh (warn_after 24 hours" in log
    assert query(box.duckdb, "select count(*) from bronze.stg_customers")[0][0] == 3

    # older than warn_after: a warning in the task's log and the zone goes on (here as a dbt
    # process, the other way a dbt call runs)
    load_users(box, 30)
    done = Sandbox(box.root, {**box.env, "SLUICE_DBT_EXECUTION": "subprocess"}).airflow("dags", "test", DAG)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert set(box.task_states(DAG).values()) == {"success"}
    assert "--no-use-colors source freshness --project-dir" in log, "a dbt process of its own"
    assert "WARN freshness of shop.users" in log, "dbt's own line"
    warning = next(line for line in log.splitlines() if "past warn_after 24 hours" in line)
    assert "warning" in warning.lower() and "source shop.users is 30.0 hours old" in warning, warning

    # older than error_after: the check fails at once (no retry can load newer rows), bronze does
    # not run, the zone before it did
    load_users(box, 100)
    with duckdb.connect(str(box.duckdb)) as con:
        con.execute("drop schema bronze cascade")
    done = box.airflow("dags", "test", DAG)
    log = done.stdout + done.stderr
    assert done.returncode != 0, "a failed run fails `airflow dags test`"
    states = box.task_states(DAG)
    assert states["bronze.source_freshness"] == "failed"
    assert tries(box, "bronze.source_freshness") == 1
    assert "source shop.users is 100.0 hours old" in log and "past error_after 72 hours" in log
    for task in ("bronze.build", "bronze.stg_customers_run", "bronze.stg_customers_test", "bronze.gateway"):
        assert states[task] == "upstream_failed", task
    assert states["ledger.raw_payment_events_seed"] == "success" and states["ledger.gateway"] == "success"
    schemas = {row[0] for row in query(box.duckdb, "select schema_name from information_schema.schemata")}
    assert "bronze" not in schemas, "no model of the zone ran"
