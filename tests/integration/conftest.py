"""A sandbox per test: a copy of dags/ and dbt/, its own Airflow home and DuckDB file."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FAKER_PYTHON, REPO
from tests.integration.moto_server import moto_server

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.integration


@dataclass
class Sandbox:
    root: Path
    env: dict[str, str]

    @property
    def dags(self) -> Path:
        return self.root / "dags"

    @property
    def dbt(self) -> Path:
        return self.root / "dbt"

    @property
    def duckdb(self) -> Path:
        return Path(self.env["SLUICE_DUCKDB_PATH"])

    def run(self, *argv: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, env=self.env, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False
        )

    def airflow(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "airflow"), *argv)

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "python"), "-c", code)

    def task_states(self, dag_id: str) -> dict[str, str | None]:
        """Task id → state of the newest run, read from the Airflow metadata database."""
        with sqlite3.connect(self.root / "airflow" / "airflow.db") as db:
            (run_id,) = db.execute(
                "select run_id from dag_run where dag_id = ? order by id desc limit 1", (dag_id,)
            ).fetchone()
            rows = db.execute(
                "select task_id, state from task_instance where dag_id = ? and run_id = ?", (dag_id, run_id)
            ).fetchall()
        return dict(rows)


def _copy_project(root: Path) -> None:
    shutil.copytree(REPO / "dags", root / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "airbyte_config", root / "airbyte_config", ignore=shutil.ignore_patterns("state"))
    shutil.copytree(REPO / "event_streams", root / "event_streams")
    shutil.copytree(
        REPO / "dbt",
        root / "dbt",
        ignore=shutil.ignore_patterns("logs", "*.duckdb*", "*.lock", "run_results.json", "compiled", "run"),
    )


def _worker_pids(marker: bytes) -> set[int]:
    """Warm dbt workers whose command line names ``marker`` (their project folder)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"sluice.runtime.dbt_worker" in cmdline and marker in cmdline:
                found.add(int(proc.name))
    return found


#: the demo's event stream bucket, in a moto server shared by the session's sandboxes
_demo_s3: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="session")
def _demo_events_s3() -> Iterator[None]:
    """A local S3 (moto in server mode) holding the demo's event files, as `make run` has one:
    every sandbox's demo DAG loads them into its own warehouse."""
    import boto3
    from deploy import local_events

    with moto_server() as url:
        env = {**local_events.LOCAL_ENV, "AWS_ENDPOINT_URL": url}
        client = boto3.client(
            "s3",
            region_name=local_events.REGION,
            endpoint_url=url,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        local_events.seed(client)
        _demo_s3.update(env)
        yield
        _demo_s3.clear()


@pytest.fixture(autouse=True, scope="session")
def _stop_dbt_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Warm dbt workers outlive their tasks by design; those serving this session's sandboxes
    (and no one else's) end with the session."""
    yield
    for pid in _worker_pids(str(tmp_path_factory.getbasetemp()).encode()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def make_sandbox(root: Path, migrate: bool = True) -> Sandbox:
    """A copy of the project under ``root`` with its own Airflow home and DuckDB file."""
    _copy_project(root)
    home = root / "airflow"
    home.mkdir()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "False",
        # task logs (dbt's lines) are asserted on: whatever level the caller's shell set
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "SLUICE_DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "SLUICE_FAKER_PYTHON": str(FAKER_PYTHON),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        **_demo_s3,
    }
    for var in (
        "SLUICE_ENV",
        "SLUICE_DBT_TARGET",
        "SLUICE_DBT_EXECUTABLE",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
    ):
        env.pop(var, None)
    box = Sandbox(root, env)
    if migrate:
        done = box.airflow("db", "migrate")
        assert done.returncode == 0, done.stderr[-2000:]
    return box


@pytest.fixture
def sandbox(tmp_path: Path) -> Callable[..., Sandbox]:
    def make(migrate: bool = True) -> Sandbox:
        return make_sandbox(tmp_path, migrate)

    return make


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def dagbag_json(box: Sandbox) -> dict[str, object]:
    """Parse the sandbox's dags/ the way Airflow does and describe what it found."""
    code = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
out = {"import_errors": bag.import_errors, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        t.task_id: {"upstream": sorted(t.upstream_task_ids), "doc_md": t.doc_md,
                    "group": t.task_group.group_id if t.task_group else None,
                    "type": type(t).__name__}
        for t in dag.tasks
    }
print("JSON" + json.dumps(out))
"""
    done = box.python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("JSON"))
    return json.loads(line[4:])  # type: ignore[no-any-return]


@contextlib.contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A fresh database on the local PostgreSQL (127.0.0.1:5432, user postgres, trust auth),
    dropped afterwards; its name starts with ``prefix``."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"no PostgreSQL on 127.0.0.1:5432 as user postgres ({exc}); `make postgres` starts it")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'create database "{name}"')
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
