"""The warm dbt worker: runs real dbt nodes, frees the DuckDB file between requests, reports dbt's
errors, and is replaced when it dies."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from sluice.errors import DbtCommandError
from sluice.runtime.dbt import DbtCall, DbtProcess, worker_python
from sluice.runtime.dbt_worker_home import private_dir, socket_path
from tests.conftest import REPO
from tests.integration.conftest import BIN, Sandbox, query

pytestmark = pytest.mark.integration


def seed_call(box: Sandbox, name: str, command: str = "seed") -> DbtCall:
    return DbtCall(command, (f"fqn:payments.{name}",), box.dbt, box.dbt, "local", None, "worker")


def test_worker_runs_nodes_and_frees_duckdb_between_requests(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    box = sandbox(migrate=False)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(box.duckdb))
    dead = private_dir() / f"dbt-test{os.getpid()}.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
        gone.bind(str(dead))  # what a SIGKILLed worker leaves: nobody listens
    first: list[str] = []
    DbtProcess(seed_call(box, "ref_merchants")).run(first.append)
    assert any("starting a dbt worker" in line for line in first)
    deadline = time.monotonic() + 30
    while dead.exists():
        assert time.monotonic() < deadline, "a starting worker prunes dead workers' sockets"
        time.sleep(0.1)
    assert any("1 of 1 OK loaded seed file raw.ref_merchants" in line for line in first), first
    # another process may write the file while the worker idles
    with duckdb.connect(str(box.duckdb)) as con:
        assert con.execute("select count(*) from raw.ref_merchants").fetchall()[0][0] == 34
    second: list[str] = []
    DbtProcess(seed_call(box, "raw_accounts")).run(second.append)
    assert not any("starting a dbt worker" in line for line in second), "the warm worker is reused"
    # the partial-parse file `make manifest` left (made in the project folder) is reused as it is
    log = socket_path(box.dbt, box.dbt, "local", worker_python(None)).with_suffix(".log").read_text()
    assert "parsing the whole project" not in log


def test_worker_failure_carries_dbt_error_lines(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    box = sandbox(migrate=False)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(box.duckdb))
    # the test's model was never built: dbt reports a database error for it
    call = DbtCall(
        "test", ("fqn:payments.bronze.unique_stg_customers_customer_id",), box.dbt, box.dbt, "local"
    )
    with pytest.raises(DbtCommandError) as err:
        DbtProcess(call).run(lambda _: None)
    assert "unique_stg_customers_customer_id" in str(err.value)
    assert "Completed with 1 error" in str(err.value)


def test_dead_worker_is_replaced(sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch) -> None:
    box = sandbox(migrate=False)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(box.duckdb))
    process = DbtProcess(seed_call(box, "ref_merchants"))
    process.run(lambda _: None)
    assert process.worker_pid is not None
    os.kill(process.worker_pid, signal.SIGKILL)
    path = socket_path(box.dbt, box.dbt, "local", worker_python(None))
    assert path.exists(), "a killed worker leaves its socket behind"
    lines: list[str] = []
    DbtProcess(seed_call(box, "raw_accounts")).run(lines.append)
    assert any("starting a dbt worker" in line for line in lines)


def test_first_task_starts_the_staging_worker_ahead_of_need(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An atomic zone's models run in a worker of their own (other --vars); it parses while the
    earlier zones run, so the zone's first task finds it serving."""
    box = sandbox(migrate=False)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(box.duckdb))
    staged = json.dumps({"sluice_staging": ["gold"]})
    call = dataclasses.replace(seed_call(box, "raw_customers"), warm=(staged,))
    DbtProcess(call).run(lambda _: None)
    path = socket_path(box.dbt, box.dbt, "local", worker_python(None), staged)
    deadline = time.monotonic() + 120
    while not path.exists():
        assert time.monotonic() < deadline, "the staging worker never started"
        time.sleep(0.2)
    lines: list[str] = []
    gold = DbtCall("run", ("fqn:payments.gold.fraud_flags",), box.dbt, box.dbt, "local", vars=staged)
    with pytest.raises(DbtCommandError):  # its parents were never built: but it ran in staging
        DbtProcess(gold).run(lines.append)
    assert not any("starting a dbt worker" in line for line in lines), "the prewarmed worker answered"
    assert any("gold__staging.fraud_flags" in line for line in lines), lines[-10:]


def test_killed_worker_takes_its_scratch_folder_and_socket_along(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task that times out or is killed TERMs the worker (DbtProcess.kill): the parsed manifest
    in its scratch folder must not pile up in the temp folder, one copy per kill."""
    box = sandbox(migrate=False)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(box.duckdb))
    before = set(Path(tempfile.gettempdir()).glob("sluice-worker-*"))
    process = DbtProcess(seed_call(box, "ref_merchants"))
    process.run(lambda _: None)
    (scratch,) = set(Path(tempfile.gettempdir()).glob("sluice-worker-*")) - before
    assert (scratch / "manifest.json").exists()
    path = socket_path(box.dbt, box.dbt, "local", worker_python(None))
    assert path.exists()
    process.kill()
    deadline = time.monotonic() + 30
    while scratch.exists() or path.exists():
        assert time.monotonic() < deadline, f"left behind: {scratch.exists()=} {path.exists()=}"
        time.sleep(0.1)


def test_each_task_writes_the_database_its_own_environment_names(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tasks of one project and target whose SLUICE_DUCKDB_PATH differ: each writes its own
    file (and so holds that file's lock), never the file of the worker that answered first."""
    box = sandbox(migrate=False)
    first, second = box.root / "first.duckdb", box.root / "second.duckdb"
    for database in (first, second):
        monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(database))
        DbtProcess(seed_call(box, "ref_merchants")).run(lambda _: None)
        assert query(database, "select count(*) from raw.ref_merchants") == [(34,)], database
    lines: list[str] = []
    DbtProcess(seed_call(box, "raw_accounts")).run(lines.append)  # second's worker, still warm
    assert not any("starting a dbt worker" in line for line in lines)
    tables = "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
    assert query(second, tables) == [("raw_accounts",), ("ref_merchants",)]
    assert query(first, tables) == [("ref_merchants",)]


def test_deleting_a_test_reparses_and_gives_a_fresh_worker(tmp_path: Path) -> None:
    """`make` re-parses once a dbt file is deleted (no mtime of a remaining file changes), and the
    new manifest's content names a new worker, which never knew the deleted test."""
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy2(REPO / name, tmp_path / name)  # older than .venv's install stamp
    (tmp_path / ".venv").symlink_to(BIN.parent)
    shutil.copytree(REPO / "dbt", tmp_path / "dbt", ignore=shutil.ignore_patterns("logs", "*.duckdb*"))
    env = {**os.environ, "SLUICE_DUCKDB_PATH": str(tmp_path / "w.duckdb")}

    def make(*flags: str) -> int:
        argv = ["make", "--no-print-directory", *flags, "dbt/target/manifest.json"]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        return done.returncode

    assert make() == 0
    assert make("-q") == 0, "up to date after a parse"
    before = socket_path(tmp_path / "dbt", tmp_path / "dbt", "local", worker_python(None))
    (tmp_path / "dbt" / "tests" / "assert_balances_reconcile.sql").unlink()
    assert make("-q") == 1, "a deleted test makes the manifest out of date"
    assert make() == 0
    manifest = json.loads((tmp_path / "dbt" / "target" / "manifest.json").read_text())
    assert not [uid for uid in manifest["nodes"] if "assert_balances_reconcile" in uid]
    assert socket_path(tmp_path / "dbt", tmp_path / "dbt", "local", worker_python(None)) != before


def test_an_idle_worker_exits_after_the_tasks_sluice_dbt_worker_idle(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker reads no settings of its own (it may run from dbt's virtualenv): the task that
    starts it hands it $SLUICE_DBT_WORKER_IDLE."""
    box = sandbox(migrate=False)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(box.duckdb))
    monkeypatch.setenv("SLUICE_DBT_WORKER_IDLE", "1")
    lines: list[str] = []
    process = DbtProcess(seed_call(box, "ref_merchants"))
    process.run(lines.append)
    assert any("--idle-seconds 1.0" in line for line in lines), lines
    path = socket_path(box.dbt, box.dbt, "local", worker_python(None))
    deadline = time.monotonic() + 30
    while path.exists():
        assert time.monotonic() < deadline, "the worker outlived its idle time"
        time.sleep(0.2)


def test_a_partial_parse_file_made_from_another_folder_does_not_mislead_the_worker(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dbt parse --project-dir dbt` run from the repository root records the project's root as
    the relative `dbt`; the worker, running in the project folder, must still find the seeds in
    `dbt/seeds`, not `dbt/dbt/seeds`."""
    box = sandbox(migrate=False)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(box.duckdb))
    parse = [str(BIN / "dbt"), "parse", "--quiet", "--project-dir", "dbt", "--profiles-dir", "dbt"]
    done = box.run(*parse, "--target", "local")
    assert done.returncode == 0, done.stdout + done.stderr
    lines: list[str] = []
    DbtProcess(seed_call(box, "ref_merchants")).run(lines.append)
    assert any("1 of 1 OK loaded seed file raw.ref_merchants" in line for line in lines), lines
    with duckdb.connect(str(box.duckdb)) as con:
        assert con.execute("select count(*) from raw.ref_merchants").fetchall()[0][0] == 34
    log = socket_path(box.dbt, box.dbt, "local", worker_python(None)).with_suffix(".log").read_text()
    assert "the partial-parse file was made for the project at 'dbt', not here" in log
