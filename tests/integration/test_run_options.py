"""A run triggered with options (Airflow params), on the demo: real Airflow (`airflow dags test
-c`, and its API server), real dbt, a real DuckDB file. One sandbox for the module: a full run
first, then runs with options over what it built."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import httpx
import pytest
from deploy.local_airflow import free_port

from tests.integration.conftest import BIN, Sandbox, make_sandbox, query

pytestmark = pytest.mark.integration
DAG = "payments_daily"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def dags_test(box: Sandbox, conf: dict[str, object] | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["dags", "test", DAG, *(["-c", json.dumps(conf)] if conf is not None else [])]
    return box.airflow(*argv)


def run_count(box: Sandbox) -> int:
    import sqlite3

    with sqlite3.connect(box.root / "airflow" / "airflow.db") as db:
        return int(db.execute("select count(*) from dag_run where dag_id = ?", (DAG,)).fetchone()[0])


def comment(box: Sandbox, table: str) -> str | None:
    """A table's comment: a mark that a rebuilt table loses (dbt creates it anew)."""
    schema, name = table.split(".")
    sql = f"select comment from duckdb_tables() where schema_name = '{schema}' and table_name = '{name}'"
    rows = query(box.duckdb, sql)
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def sql(box: Sandbox, *statements: str) -> None:
    with duckdb.connect(str(box.duckdb)) as con:
        for statement in statements:
            con.execute(statement)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    """The demo after one full run."""
    box = make_sandbox(tmp_path_factory.mktemp("options"))
    done = dags_test(box)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return box


def test_select_runs_the_selected_models_and_downstream_and_skips_the_rest(built: Sandbox) -> None:
    """``stg_payment_events+`` and ``card_transactions``, with the trigger's vars choosing the
    incremental model's window: the rest is skipped, gold (atomic) is built whole and published."""
    box = built
    table = "silver.card_transactions"
    (day,) = query(
        box.duckdb,
        f"select cast(transaction_at as date) d from {table} group by 1 order by count(*) desc, 1 limit 1",
    )[0]
    window = f"cast(transaction_at as date) = '{day}'"
    before = query(box.duckdb, f"select transaction_id, amount from {table} order by 1")
    assert query(box.duckdb, f"select count(*) from {table} where {window}")[0][0] >= 1
    sql(
        box,
        f"delete from {table} where {window}",
        "comment on table silver.customers is 'kept'",
        "comment on table silver.payment_events is 'kept'",
        "comment on table gold.customer_balances is 'kept'",
    )
    conf = {
        "select": ["stg_payment_events+", "card_transactions"],
        # the day's rows only, whatever the run's own data interval is
        "vars": {"data_interval_start": f"{day}T00:00:00", "data_interval_end": f"{day + timedelta(1)}"},
    }
    done = dags_test(box, conf)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    states = box.task_states(DAG)
    ran = {t for t, s in states.items() if s == "success"}
    skipped = {t for t, s in states.items() if s == "skipped"}
    assert set(states.values()) == {"success", "skipped"}, states
    assert {
        "bronze.stg_payment_events_run",
        "silver.payment_events_run",
        "silver.card_transactions_run",
        "silver.card_transactions_test",
        "bronze.gateway",
        "silver.gateway",
    } <= ran
    # gold is downstream of payment_events: atomic, so all of it is built and published
    assert {t for t in states if t.startswith("gold.")} <= ran
    assert {
        "bronze.stg_customers_run",
        "bronze.raw_accounts_seed",
        "bronze.raw_accounts_test",
        "silver.customers_run",
        "silver.accounts_run",
        "silver.accounts_snapshot",
    } <= skipped
    assert comment(box, "silver.customers") == "kept", "a model left out is not rebuilt"
    assert comment(box, "silver.payment_events") is None, "a selected model is rebuilt"
    assert comment(box, "gold.customer_balances") is None, "gold was published anew"
    # the trigger's vars reached dbt: the incremental model loaded exactly the day they named
    after = query(box.duckdb, f"select transaction_id, amount from {table} order by 1")
    assert after == before


def test_full_refresh_rebuilds_the_incremental_model_and_a_zone_left_out_stays_live(built: Sandbox) -> None:
    box = built
    table = "silver.card_transactions"
    rows = query(box.duckdb, f"select count(*) from {table}")[0][0]
    # a row no source holds, from long ago: an incremental run keeps it, a full refresh does not
    sql(
        box,
        f"insert into {table} select -1, account_id, merchant_id, merchant_name, merchant_country, amount, "
        f"currency, timestamp '2001-01-01', date '2001-01-01', status from {table} limit 1",
        "comment on table gold.fraud_flags is 'kept'",
    )
    done = dags_test(box, {"select": ["card_transactions"], "full_refresh": True})
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert query(box.duckdb, f"select count(*) from {table} where transaction_id = -1") == [(0,)]
    assert query(box.duckdb, f"select count(*) from {table}")[0][0] == rows
    states = box.task_states(DAG)
    assert states["silver.card_transactions_run"] == "success"
    # no "+": gold, downstream of it, is not selected; its stage and publish are skipped and live
    # gold is untouched
    assert {states[t] for t in states if t.startswith("gold.")} == {"skipped"}
    assert comment(box, "gold.fraud_flags") == "kept"


def test_an_unknown_model_is_refused_before_a_run_is_made(built: Sandbox) -> None:
    box = built
    runs = run_count(box)
    done = dags_test(box, {"select": ["customers", "no_such_model+"]})
    assert done.returncode != 0
    assert "Invalid input for param select: 'no_such_model+' is not valid" in done.stderr, done.stderr[-3000:]
    assert run_count(box) == runs


@pytest.fixture(scope="module")
def api(built: Sandbox) -> Iterator[str]:
    """Airflow's API server (REST API and UI) over the sandbox, every user an admin."""
    port = free_port()
    env = {
        **built.env,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-secret",
    }
    log = (built.root / "api-server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "airflow"), "api-server", "--port", str(port)],
        env=env,
        cwd=built.root,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, Path(log.name).read_text()[-3000:]
            time.sleep(1)
        yield url
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def test_the_rest_api_answers_400_naming_the_param_and_makes_no_run(built: Sandbox, api: str) -> None:
    token = httpx.get(f"{api}/auth/token").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    runs = run_count(built)
    trigger = f"{api}/api/v2/dags/{DAG}/dagRuns"
    bad = httpx.post(trigger, headers=headers, json={"logical_date": None, "conf": {"select": ["nosuch"]}})
    assert bad.status_code == 400, bad.text
    detail = bad.json()["detail"]
    assert detail.startswith("Invalid input for param select: 'nosuch' is not valid"), detail
    assert "stg_customers" not in detail, "the list of names stays out of the message"
    bad_vars = httpx.post(trigger, headers=headers, json={"logical_date": None, "conf": {"vars": "x=1"}})
    assert bad_vars.status_code == 400 and "param vars" in bad_vars.json()["detail"]
    assert run_count(built) == runs
    # the form's pick list, as the trigger dialog reads the DAG's params
    details = httpx.get(f"{api}/api/v2/dags/{DAG}/details", headers=headers)
    assert details.status_code == 200, details.text
    select = details.json()["params"]["select"]
    assert select["schema"]["title"] == "Select models"
    assert {"stg_customers", "stg_customers+"} <= set(select["schema"]["examples"])


def test_the_trigger_dialog_shows_the_options_as_a_form(api: str, tmp_path: Path) -> None:
    """What a person sees: the trigger dialog's form, with the models in the select's pick list."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{api}/dags/{DAG}")
        page.get_by_role("button", name="Trigger").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Select models").wait_for()
        assert dialog.get_by_text("Full refresh").is_visible()
        assert dialog.get_by_text("dbt vars").is_visible()
        dialog.locator("#element_select").click()
        page.get_by_role("option", name="stg_customers+", exact=True).wait_for()
        page.screenshot(path=str(tmp_path / "trigger.png"))
        browser.close()
