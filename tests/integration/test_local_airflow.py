"""`make up` / `make down`: a real local Airflow (API server, scheduler, DAG processor, triggerer)
runs the demo when triggered through the REST API, and `down` leaves nothing running."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

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
# a pipeline whose one model fails: its task and its atomic zone's publish send alerts
ALERTING = """pipeline: payments_alerts
dbt:
  project_dir: ../../dbt
  select: [path:models/alerts]
notify:
  slack: {connection: slack_alerts}
  sns: {topic_arn: "arn:aws:sns:us-east-1:123456789012:sluice-alerts", aws_connection: aws_alerts}
zones:
  - name: checks
    select: [path:models/alerts]
    publish: atomic
"""
LINEAGE_PATH = "/api/v1/lineage"
BROKEN_MODEL = "{{ config(schema='alerts') }}\nselect no_such_column from {{ ref('customers') }}\n"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _wait_idle(airflow: LocalAirflow, seconds: float = 300) -> None:
    """Until no DAG run is queued or running: the warehouse is a DuckDB file, which a running
    dbt holds locked (a publish of gold also starts the pipelines scheduled after it)."""
    deadline = time.monotonic() + seconds
    with airflow.api() as api:
        while time.monotonic() < deadline:
            busy = api.get("/dags/~/dagRuns", params={"state": ["queued", "running"]}).json()
            if not busy["total_entries"]:
                time.sleep(3)  # the scheduler may be about to start an asset-triggered run
                if not api.get("/dags/~/dagRuns", params={"state": ["queued", "running"]}).json()[
                    "total_entries"
                ]:
                    return
            time.sleep(1)
    raise TimeoutError("DAG runs still running")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


class _Webhook(http.server.BaseHTTPRequestHandler):
    """Slack's incoming webhook, as the notifier calls it: a JSON POST, answered "ok"."""

    received: ClassVar[list[dict[str, Any]]] = []
    #: OpenLineage events, as a Marquez server receives them
    lineage: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == LINEAGE_PATH:
            self.lineage.append(json.loads(body))
        else:
            self.received.append({"path": self.path, **json.loads(body)})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Receivers:
    slack: list[dict[str, Any]]
    lineage: list[dict[str, Any]]
    sqs: Any  # boto3 SQS client on the moto server
    queue_url: str


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[Receivers, dict[str, str]]]:
    """A local stand-in for Slack's webhook, and moto (server mode) for SNS with an SQS queue
    subscribed to the alerts topic; with the Airflow connections that point at them."""
    import boto3

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    aws = {"region_name": "us-east-1", "endpoint_url": endpoint}
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    try:
        for _ in range(100):
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        sns, sqs = boto3.client("sns", **aws, **keys), boto3.client("sqs", **aws, **keys)
        topic = sns.create_topic(Name="sluice-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
        connections = {
            "AIRFLOW_CONN_SLACK_ALERTS": json.dumps(
                {"conn_type": "slackwebhook", "password": f"http://127.0.0.1:{server.server_port}/hook"}
            ),
            "AIRFLOW_CONN_AWS_ALERTS": json.dumps(
                {"conn_type": "aws", "login": "testing", "password": "testing", "extra": aws}
            ),
        }
        lineage = {
            "type": "http",
            "url": f"http://127.0.0.1:{server.server_port}",
            "endpoint": LINEAGE_PATH[1:],
        }
        connections["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(lineage)
        yield Receivers(_Webhook.received, _Webhook.lineage, sqs, queue_url), connections
    finally:
        server.shutdown()
        moto.terminate()
        moto.wait(10)


@pytest.fixture(scope="module")
def local(
    tmp_path_factory: pytest.TempPathFactory, receivers: tuple[Receivers, dict[str, str]]
) -> Iterator[tuple[LocalAirflow, Sandbox]]:
    """One local Airflow over a copy of the project, as `make up` starts it, for this module."""
    box = make_sandbox(tmp_path_factory.mktemp("up"), migrate=False)
    pipelines = box.dags / "pipelines"
    (pipelines / "finance_report.yml").write_text(CONSUMER)
    (pipelines / "payments_alerts.yml").write_text(ALERTING)
    demo = pipelines / "payments_daily.yml"
    demo.write_text(
        demo.read_text().replace("  target: local\n", "  target: local\n  exclude: [path:models/alerts]\n")
    )
    (box.dbt / "models" / "alerts").mkdir()
    (box.dbt / "models" / "alerts" / "alert_broken.sql").write_text(BROKEN_MODEL)
    # a model that builds, so the publish runs (and is blocked) rather than being upstream_failed
    (box.dbt / "models" / "alerts" / "alert_ok.sql").write_text(
        "{{ config(schema='alerts') }}\nselect 1 as ok\n"
    )
    # as `make manifest` parses: from inside the project. dbt's partial-parse file keeps the
    # project path it was given, and the warm workers start from that file in the project folder
    dbt = [str(Path(sys.executable).parent / "dbt"), "parse", "--quiet", "--project-dir", "."]
    parsed = subprocess.run(
        [*dbt, "--profiles-dir", ".", "--target", "local"],
        cwd=box.dbt,
        env=box.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    with scratch_postgres("sluice_up") as database:
        env = {k: box.env[k] for k in ("SLUICE_DUCKDB_PATH", "SLUICE_FAKER_PYTHON")}
        airflow = LocalAirflow(
            home=box.root / "airflow",
            port=free_port(),
            database=database,
            dags_folder=box.dags,
            extra_env={**env, **receivers[1]},
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
    _wait_idle(airflow)
    sql = "select table_name from information_schema.tables where table_schema = 'gold'"
    gold = {name for (name,) in query(box.duckdb, sql)}
    assert {"merchant_daily_volumes", "customer_balances", "fraud_flags"} <= gold
    assert list(dbt_workers(airflow.home)), "the run's dbt tasks went through a warm dbt worker"

    # OpenLineage: each model task, ended in the triggerer from its zone's build (where Airflow
    # calls no listener), still sends START and COMPLETE with its own relation as output
    ended = defaultdict(list)
    for event in list(_Webhook.lineage):
        ended[event["job"]["name"]].append(event)
    for zone in ("bronze", "silver", "gold"):
        for model in (box.dbt / "models" / zone).glob("*.sql"):
            events = ended[f"payments_daily.{zone}.{model.stem}_run"]
            done = [e for e in events if e["eventType"] == "COMPLETE"]  # a run each: scheduled, triggered
            assert done, (model.stem, sorted(ended))
            starts = {e["run"]["runId"] for e in events if e["eventType"] == "START"}
            for event in done:
                assert event["run"]["runId"] in starts, model.stem
                assert [o["name"].split(".")[-1] for o in event["outputs"]] == [model.stem]
                assert event["run"]["facets"]["parent"]["job"]["name"] == "payments_daily"
    tests = [e for e in ended["payments_daily.gold.customer_balances_test"] if e["eventType"] == "COMPLETE"]
    checks = [
        a for e in tests for i in e["inputs"] for a in i["inputFacets"]["dataQualityAssertions"]["assertions"]
    ]
    assert checks and all(a["success"] for a in checks)


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


def test_a_failed_model_and_a_blocked_publish_alert_slack_and_sns(
    local: tuple[LocalAirflow, Sandbox], receivers: tuple[Receivers, dict[str, str]]
) -> None:
    """Through Airflow's own notifiers: each message names the pipeline, zone, task, the first
    error line and the log URL. The model's task ends in the triggerer, so its alert is sent by
    the DAG processor; the publish ends on a worker."""
    airflow, _ = local
    got, _ = receivers
    run = airflow.wait_for_run("payments_alerts", airflow.trigger("payments_alerts"), seconds=600)
    assert run["state"] == "failed"
    deadline = time.monotonic() + 120
    while len(got.slack) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    texts = sorted(m["text"] for m in got.slack)
    assert len(texts) == 2, "\n---\n".join(texts)
    failed, blocked = texts
    run_url = f"{airflow.url}/dags/payments_alerts/runs/"
    assert failed.startswith(
        "sluice: payments_alerts failed: zone checks, task checks.alert_broken_run, run "
    )
    assert failed.splitlines()[1] == (
        "error: fqn:payments.alerts.alert_broken error: Runtime Error in model alert_broken "
        "(models/alerts/alert_broken.sql)"
    ), failed
    assert failed.splitlines()[2].startswith(f"log: {run_url}")
    assert blocked.startswith(
        "sluice: payments_alerts publish blocked: zone checks, task checks.publish, run "
    )
    assert "not published" in blocked.splitlines()[1]
    sns_subjects = []
    while len(sns_subjects) < 2 and time.monotonic() < deadline:
        answer = got.sqs.receive_message(QueueUrl=got.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        sns_subjects += [json.loads(m["Body"])["Subject"] for m in answer.get("Messages", [])]
    assert sorted(sns_subjects) == [
        "sluice: payments_alerts failed (zone checks)",
        "sluice: payments_alerts publish blocked (zone checks)",
    ]
    # the failed model's task (ended in the triggerer) sends FAIL with dbt's error
    (fail,) = [
        e
        for e in got.lineage
        if e["job"]["name"] == "payments_alerts.checks.alert_broken_run" and e["eventType"] == "FAIL"
    ]
    assert "Runtime Error in model alert_broken" in fail["run"]["facets"]["errorMessage"]["message"]
    assert [o["name"].split(".")[-1] for o in fail["outputs"]] == ["alert_broken"]


def test_a_backfill_loads_each_interval_into_the_incremental_model_once(
    local: tuple[LocalAirflow, Sandbox],
) -> None:
    """Each run's data interval reaches dbt as vars: silver.card_transactions (incremental)
    loads exactly its interval. Three days of rows are deleted, a backfill of those three days
    brings each row back once, and no other row is touched."""
    import duckdb

    airflow, box = local
    table = "silver.card_transactions"
    _wait_idle(airflow)
    days = query(
        box.duckdb,
        "select d from (select cast(transaction_at - interval 5 hour as date) d, count(*) n "
        f"from {table} where transaction_at >= '2026-01-02' group by 1) order by n desc, d limit 1",
    )
    first = days[0][0]
    window = (
        f"transaction_at >= cast('{first}' as timestamp) + interval 5 hour "
        f"and transaction_at < cast('{first}' as timestamp) + interval 3 day + interval 5 hour"
    )
    before = query(box.duckdb, f"select transaction_id, amount from {table} order by 1")
    in_window = query(box.duckdb, f"select count(*) from {table} where {window}")[0][0]
    assert in_window >= 1
    with duckdb.connect(str(box.duckdb)) as con:
        con.execute(f"delete from {table} where {window}")
    with airflow.api() as api:
        last = f"{first + timedelta(days=2)}T05:00:00Z"  # the third run's logical date
        body = {"dag_id": "payments_daily", "from_date": f"{first}T00:00:00Z", "to_date": last}
        answer = api.post(
            "/backfills", json={**body, "max_active_runs": 1, "reprocess_behavior": "completed"}
        )
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            runs = api.get("/dags/payments_daily/dagRuns", params={"run_type": "backfill"}).json()["dag_runs"]
            if len(runs) == 3 and all(r["state"] in ("success", "failed") for r in runs):
                break
            time.sleep(2)
    assert sorted((r["data_interval_start"][:10], r["state"]) for r in runs) == [
        (str(first + timedelta(days=i)), "success") for i in range(3)
    ]
    _wait_idle(airflow)
    after = query(box.duckdb, f"select transaction_id, amount from {table} order by 1")
    assert after == before, "each row of the three intervals is back, once, and nothing else changed"


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
        assert groups == ["ingest", "bronze", "silver", "gold", "archive"]
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


def test_another_virtualenvs_airflow_runs_with_the_same_settings(tmp_path: Path) -> None:
    """The benchmark starts a peer's Airflow through LocalAirflow: its own executable, the same
    FAST_SETTINGS."""
    peer_bin = tmp_path / "peer" / "bin"
    peer_bin.mkdir(parents=True)
    airflow = peer_bin / "airflow"
    airflow.write_text(
        '#!/bin/sh\necho "$0 $* $AIRFLOW__CORE__EXECUTOR $AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"\n'
    )
    airflow.chmod(0o755)
    done = LocalAirflow(home=tmp_path / "home", bin_dir=peer_bin).airflow("version")
    assert done.stdout.split() == [
        str(airflow),
        "version",
        FAST_SETTINGS["AIRFLOW__CORE__EXECUTOR"],
        FAST_SETTINGS["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"],
    ]
    assert LocalAirflow(home=tmp_path / "home").bin_dir == Path(sys.executable).parent, "make up's own"
