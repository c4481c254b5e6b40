"""The sync task under real Airflow (`airflow dags test`), against the API double.

`dags test` runs a deferred task's trigger in-process, so these runs go through the whole
path: execute starts the job and defers, the trigger polls the double, execute_complete ends
the task. The operator itself never polls a job when it defers: every GET /jobs/<id> the
double sees came from the trigger.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.airbyte.client import AirbyteClient, ServerSettings
from sluice.airbyte.config import load_config
from sluice.airbyte.reconcile import Reconciler
from sluice.airbyte.state import load_state
from tests.airbyte_double.server import AirbyteDouble, serve
from tests.conftest import REPO

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent

DAG = """
from datetime import datetime, timedelta
from pathlib import Path
from airflow.sdk import DAG
from sluice.airflow.airbyte_operator import airbyte_sync_task

with DAG("airbyte_sync_demo", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    airbyte_sync_task(
        "sync_payments_raw", "payments_raw", Path({config!r}),
        poll_interval=0.2, timeout=timedelta(minutes=2), retries={retries},
        retry_delay=timedelta(seconds=0), retry_attempts={attempts}, retry_backoff=0.1,
    )
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("airbyte_dag")
    (root / "dags").mkdir()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
    for var in [v for v in env if v.startswith(("AIRBYTE_", "SLUICE_AIRBYTE"))]:
        env.pop(var)
    done = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    yield root, env


def _apply(double: AirbyteDouble, root: Path, retries: int = 0, attempts: int = 3) -> Path:
    cfg = root / "airbyte_config"
    shutil.rmtree(cfg, ignore_errors=True)
    shutil.copytree(REPO / "airbyte_config", cfg, ignore=shutil.ignore_patterns("state"))
    with AirbyteClient(ServerSettings(double.url)) as client:
        state = load_state(cfg, double.workspace_id, double.url)
        Reconciler(load_config(cfg), client, state).apply(lambda _: None, {"AIRBYTE_WAREHOUSE_PASSWORD": "x"})
    (root / "dags" / "airbyte_sync_demo.py").write_text(
        DAG.format(config=str(cfg), retries=retries, attempts=attempts)
    )
    return cfg


def _run(
    root: Path, env: dict[str, str], double: AirbyteDouble
) -> tuple[subprocess.CompletedProcess[str], str]:
    env = {**env, "AIRBYTE_URL": double.url, "AIRBYTE_WORKSPACE_ID": double.workspace_id}
    done = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "airbyte_sync_demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    with sqlite3.connect(root / "airflow" / "airflow.db") as db:
        (state,) = db.execute(
            "select state from task_instance where task_id = 'sync_payments_raw' "
            "order by start_date desc limit 1"
        ).fetchone()
    return done, str(state)


def _links(root: Path) -> list[str]:
    with sqlite3.connect(root / "airflow" / "airflow.db") as db:
        rows = db.execute(
            "select value from xcom where key = '_link_AirbyteJobLink' order by timestamp"
        ).fetchall()
    return [json.loads(v) if isinstance(v, str) else json.loads(v.decode()) for (v,) in rows]


@pytest.fixture
def airbyte() -> Iterator[AirbyteDouble]:
    yield from serve()


def test_sync_task_defers_and_succeeds(home: tuple[Path, dict[str, str]], airbyte: AirbyteDouble) -> None:
    root, env = home
    _apply(airbyte, root)
    done, state = _run(root, env, airbyte)
    log = done.stdout + done.stderr
    assert state == "success", log[-4000:]
    [job] = airbyte.jobs.values()
    assert job.status == "succeeded"
    polls = [r for r in airbyte.requests if r.method == "GET" and r.path.endswith(f"/jobs/{job.id}")]
    assert len(polls) >= 4, "the trigger polled through pending, queued, running"
    assert f"Airbyte job {job.id} succeeded" in log
    assert "deferred" in log.lower()
    conn = airbyte.by_name("connections", "payments_raw")["connectionId"]
    assert _links(root)[-1] == (
        f"{airbyte.url}/workspaces/{airbyte.workspace_id}/connections/{conn}/timeline?jobId={job.id}&openLogs=true"
    )


def test_failed_job_fails_the_task_with_id_status_and_link(
    home: tuple[Path, dict[str, str]], airbyte: AirbyteDouble
) -> None:
    root, env = home
    _apply(airbyte, root)
    airbyte.job_script = ["pending", "running", "failed"]
    done, state = _run(root, env, airbyte)
    log = done.stdout + done.stderr
    assert state == "failed", log[-4000:]
    [job] = airbyte.jobs.values()
    conn = airbyte.by_name("connections", "payments_raw")["connectionId"]
    assert f"Airbyte job {job.id} failed (connection {conn}): {airbyte.url}/workspaces/" in log


def test_retried_task_attaches_to_the_job_its_first_try_started(
    home: tuple[Path, dict[str, str]], airbyte: AirbyteDouble
) -> None:
    root, env = home
    # one try of the trigger's GET, and the first poll answers 503: the first try fails while
    # its job runs on; the retry must follow that job, not start a second sync
    _apply(airbyte, root, retries=1, attempts=1)
    airbyte.fail_counts[("GET", "/jobs/{id}")] = 1
    posts_before = len(airbyte.bodies("POST", "/api/public/v1/jobs"))
    done, state = _run(root, env, airbyte)
    log = done.stdout + done.stderr
    assert state == "success", log[-4000:]
    assert len(airbyte.bodies("POST", "/api/public/v1/jobs")) == posts_before + 1, "a second sync was started"
    [job] = airbyte.jobs.values()
    assert job.status == "succeeded"
    assert f"Airbyte job {job.id} started by an earlier try is" in log
