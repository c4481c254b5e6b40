"""`make up` / `make down`: a real local Airflow (API server, scheduler, DAG processor, triggerer)
runs the demo when triggered through the REST API, and `down` leaves nothing running."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deploy.local_airflow import FAST_SETTINGS, ROLES, LocalAirflow, dbt_workers, free_port

from tests.conftest import REPO
from tests.integration.conftest import Sandbox, make_sandbox, query, scratch_postgres

# a second pipeline, run by gold's publish; it rebuilds one silver model
CONSUMER = """pipeline: finance_report
schedule: {after: [payments_daily.gold]}
dbt:
  project_dir: ../../dbt
  select: [path:models/silver/customers.sql]
zones:
  - name: report
    select: [path:models/silver]
"""
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalAirflow, Sandbox]]:
    """One local Airflow over a copy of the project, as `make up` starts it, for this module."""
    box = make_sandbox(tmp_path_factory.mktemp("up"), migrate=False)
    (box.dags / "pipelines" / "finance_report.yml").write_text(CONSUMER)
    with scratch_postgres("sluice_up") as database:
        airflow = LocalAirflow(
            home=box.root / "airflow",
            port=free_port(),
            database=database,
            dags_folder=box.dags,
            extra_env={k: box.env[k] for k in ("SLUICE_DUCKDB_PATH", "SLUICE_FAKER_PYTHON")},
        )
        try:
            airflow.up()
            yield airflow, box
        finally:
            airflow.down()


def test_up_runs_the_demo_when_triggered_through_the_rest_api(local: tuple[LocalAirflow, Sandbox]) -> None:
    airflow, box = local
    started = airflow.running()
    assert started.keys() == set(ROLES)
    # a second `up` keeps what runs rather than starting another scheduler
    airflow.up()
    assert airflow.running() == started
    # the login is the home's own, and the API refuses anyone else
    bad = httpx.post(f"{airflow.url}/auth/token", json={"username": "admin", "password": "admin"})
    assert bad.status_code == 401

    airflow.unpause("finance_report")  # scheduled after payments_daily.gold: see the next test
    run = airflow.wait_for_run("payments_daily", airflow.trigger("payments_daily"), seconds=600)
    assert run["state"] == "success", run
    sql = "select table_name from information_schema.tables where table_schema = 'gold'"
    gold = {name for (name,) in query(box.duckdb, sql)}
    assert {"merchant_daily_volumes", "customer_balances", "fraud_flags"} <= gold
    assert list(dbt_workers(airflow.home)), "the run's dbt tasks went through a warm dbt worker"


def test_publishing_gold_runs_the_pipeline_scheduled_after_it(local: tuple[LocalAirflow, Sandbox]) -> None:
    """`schedule: {after: [payments_daily.gold]}`: gold's publish (previous test) triggers it."""
    airflow, _ = local
    deadline = time.monotonic() + 300
    with airflow.api() as api:
        while time.monotonic() < deadline:
            runs = api.get("/dags/finance_report/dagRuns").json()["dag_runs"]
            if runs and all(r["state"] in ("success", "failed") for r in runs):
                break
            time.sleep(1)
    # one run per publish of gold (unpausing payments_daily also started its latest scheduled run)
    assert runs and {(r["run_type"], r["state"]) for r in runs} == {("asset_triggered", "success")}


def test_the_graph_view_shows_the_zones_and_their_gateways(
    local: tuple[LocalAirflow, Sandbox], tmp_path: Path
) -> None:
    """What a person sees: log in, open the DAG, switch to the graph, expand the groups."""
    from playwright.sync_api import sync_playwright

    airflow, _ = local
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{airflow.url}/dags/payments_daily")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(airflow.password())
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/dags/payments_daily")
        page.get_by_role("button", name="Show Graph (Press g)").click()
        nodes = page.locator(".react-flow__node")
        nodes.filter(has_text="Task Group").first.wait_for()
        groups = [t.split("\n")[0] for t in nodes.filter(has_text="Task Group").all_inner_texts()]
        assert groups == ["ingest", "bronze", "silver", "gold"]
        page.get_by_role("button", name="Collapse Details Panel").click()
        page.get_by_role("button", name="Expand all task groups").click()
        nodes.filter(has_text="ZoneStepOperator").first.wait_for()
        texts = [t.split("\n") for t in nodes.all_inner_texts()]
        shown = [(lines[0], lines[-1]) for lines in texts]
        assert shown.count(("gateway", "EmptyOperator")) == 2, "bronze and silver hold behind a gateway"
        assert ("publish", "ZoneStepOperator") in shown, "gold publishes atomically"
        assert ("stg_accounts_run", "DbtNodeOperator") in shown
        page.wait_for_timeout(1000)  # the layout settles after expanding
        shot = tmp_path / "graph.png"
        page.screenshot(path=str(shot))
        browser.close()
    if os.environ.get("SLUICE_UPDATE_SCREENSHOT"):
        shutil.copy(shot, REPO / "docs" / "airflow-graph.png")


def test_down_stops_what_up_started_and_the_dbt_workers(local: tuple[LocalAirflow, Sandbox]) -> None:
    airflow, _ = local
    started, workers = airflow.running(), list(dbt_workers(airflow.home))
    assert airflow.down() == sorted(ROLES)
    assert not any(_alive(pid) for pid in started.values())
    assert not any(_alive(pid) for pid in workers), "down stops the dbt workers its tasks started"
    assert airflow.down() == [], "a second down finds nothing of its own to stop"


def test_up_on_a_busy_port_names_the_port_and_how_to_pick_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = ["up", "--home", str(tmp_path), "--port", str(port)]
        done = subprocess.run(
            [sys.executable, "-m", "deploy.local_airflow", *up],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode != 0
    assert done.stderr.strip() == f"port {port} is in use by another program: make up PORT=8081"


def test_the_login_and_signing_secrets_are_made_per_home_and_private(tmp_path: Path) -> None:
    one, two = LocalAirflow(home=tmp_path / "one"), LocalAirflow(home=tmp_path / "two")
    env_one, env_two = one.environment(), two.environment()
    assert one.password() != two.password()
    assert env_one["AIRFLOW__API_AUTH__JWT_SECRET"] != env_two["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert one.password() == LocalAirflow(home=tmp_path / "one").password(), "stable across make up"
    assert (tmp_path / "one" / "local-secrets.json").stat().st_mode & 0o077 == 0
    assert all(env_one[k] == v for k, v in FAST_SETTINGS.items())


@pytest.mark.parametrize("command", ["down", "status"])
def test_down_and_status_with_nothing_started(tmp_path: Path, command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deploy.local_airflow", command, "--home", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if command == "down":
        assert (done.returncode, done.stdout.strip()) == (0, "nothing was running")
    else:
        assert done.returncode == 1 and "scheduler: not running" in done.stdout
