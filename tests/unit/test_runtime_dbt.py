"""The dbt runtime without dbt: command line, executable and target choice, errors, the lock."""

from __future__ import annotations

import dataclasses
import itertools
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sluice.errors import DbtCommandError, SluiceError
from sluice.runtime.dbt import (
    DbtCall,
    DbtProcess,
    adapter_type,
    dbt_executable,
    dbt_execution,
    dbt_target,
    error_lines,
    worker_python,
)
from sluice.runtime.file_locks import exclusive
from tests.conftest import DEMO_MANIFEST

DBT_DIR = DEMO_MANIFEST.parents[1]


def call(tmp_path: Path, executable: str | None = None, target: str = "local") -> DbtCall:
    return DbtCall(
        "run", ("fqn:payments.gold.fraud_flags",), tmp_path, tmp_path, target, executable, "subprocess"
    )


def test_argv_selects_exactly_the_task_nodes(tmp_path: Path) -> None:
    argv = call(tmp_path, "/opt/dbt-venv/bin/dbt").argv(tmp_path / "t")
    assert argv[:3] == ["/opt/dbt-venv/bin/dbt", "--no-use-colors", "run"]
    assert argv[-2:] == ["--select", "fqn:payments.gold.fraud_flags"]
    assert argv[argv.index("--target") + 1] == "local"
    assert argv[argv.index("--target-path") + 1] == str(tmp_path / "t")


def test_the_run_data_interval_reaches_dbt_as_vars_merged_over_the_tasks_own(tmp_path: Path) -> None:
    from sluice.airflow.operators import for_run

    staged = dataclasses.replace(call(tmp_path), vars='{"sluice_staging": ["gold"]}')
    context = interval_context()
    argv = for_run(staged, context).argv(tmp_path / "t")
    # the last --vars counts: the staging schemas and the interval, in one
    assert json.loads(last_vars(argv)) == {
        "sluice_staging": ["gold"],
        "data_interval_start": "2026-08-10T05:00:00+00:00",
        "data_interval_end": "2026-08-11T05:00:00+00:00",
    }
    assert "--full-refresh" not in argv
    # the warm worker is chosen by the task's own vars: a new run does not start another
    assert for_run(staged, context).vars == staged.vars
    # a manual run with no logical date has no interval: dbt gets no interval vars
    assert for_run(staged, {"data_interval_start": None, "data_interval_end": None}) == staged


def interval_context(**more: Any) -> dict[str, Any]:
    """A task's context in a daily run for 2026-08-10."""
    from datetime import UTC, datetime

    return {
        "data_interval_start": datetime(2026, 8, 10, 5, tzinfo=UTC),
        "data_interval_end": datetime(2026, 8, 11, 5, tzinfo=UTC),
        **more,
    }


def last_vars(argv: list[str]) -> str:
    return argv[len(argv) - 1 - argv[::-1].index("--vars") + 1]


def test_the_triggers_vars_and_full_refresh_reach_every_dbt_call_that_takes_them(tmp_path: Path) -> None:
    from sluice.airflow.operators import for_run

    staged = dataclasses.replace(call(tmp_path), vars='{"sluice_staging": ["gold"]}')
    params = {"full_refresh": True, "select": [], "vars": {"region": "eu", "data_interval_end": "2026-01-01"}}
    context = interval_context(params=params)
    argv = for_run(staged, context).argv(tmp_path / "t")
    # the trigger's vars win over the interval's; sluice's own staging vars win over both
    assert json.loads(last_vars(argv)) == {
        "sluice_staging": ["gold"],
        "region": "eu",
        "data_interval_start": "2026-08-10T05:00:00+00:00",
        "data_interval_end": "2026-01-01",
    }
    assert "--full-refresh" in argv and argv.index("--full-refresh") < argv.index("--select")
    hostile = {"params": {**params, "vars": {"sluice_staging": []}}}
    assert json.loads(last_vars(for_run(staged, hostile).argv(tmp_path / "t")))["sluice_staging"] == ["gold"]
    # dbt snapshot and dbt test refuse --full-refresh; a zone build (dbt build) takes it
    for command in ("snapshot", "test"):
        other = dataclasses.replace(staged, command=command)
        assert "--full-refresh" not in for_run(other, context).argv(tmp_path / "t")
    build = dataclasses.replace(staged, command="build", select=(), batch=("fqn:a", "fqn:b"))
    assert "--full-refresh" in for_run(build, context).batch_args()
    # a cleared form field (null) is its default
    cleared = {"params": {"full_refresh": None, "select": None, "vars": None}}
    assert for_run(staged, cleared) == staged


def test_executable_from_environment_beats_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dbt_executable("/spec/dbt") == "/spec/dbt"
    monkeypatch.setenv("SLUICE_DBT_EXECUTABLE", "/env/dbt")
    assert dbt_executable("/spec/dbt") == "/env/dbt"
    monkeypatch.delenv("SLUICE_DBT_EXECUTABLE")
    assert dbt_executable(None) == str(Path(sys.executable).parent / "dbt")


def test_target_from_environment_beats_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dbt_target("local") == "local"
    monkeypatch.setenv("SLUICE_DBT_TARGET", "prod")
    assert dbt_target("local") == "prod"


def test_execution_mode_from_environment_beats_spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert dbt_execution("worker") == "worker"
    monkeypatch.setenv("SLUICE_DBT_EXECUTION", "subprocess")
    assert dbt_execution("worker") == "subprocess"
    monkeypatch.setenv("SLUICE_DBT_EXECUTION", "threads")
    with pytest.raises(SluiceError, match="SLUICE_DBT_EXECUTION='threads': use one of worker, subprocess"):
        dbt_execution("worker")


def test_worker_runs_on_the_python_of_the_dbt_virtualenv(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").touch()
    assert worker_python(str(tmp_path / "bin" / "dbt")) == str(tmp_path / "bin" / "python")
    assert worker_python(None) == sys.executable


def test_only_duckdb_targets_take_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICE_DUCKDB_PATH", raising=False)
    assert adapter_type(DBT_DIR, DBT_DIR, "local") == "duckdb"
    assert adapter_type(DBT_DIR, DBT_DIR, "postgres") == "postgres"
    assert adapter_type(DBT_DIR, DBT_DIR, "prod") == "snowflake"
    assert adapter_type(DBT_DIR, DBT_DIR, "nope") is None
    local = DbtCall("run", (), DBT_DIR, DBT_DIR, "local")
    # the lock of the DuckDB file the profile names (its default here), not of the target
    assert local.lock_path() == (DBT_DIR / "target").resolve() / ".payments.duckdb.sluice.lock"
    assert DbtCall("run", (), DBT_DIR, DBT_DIR, "postgres").lock_path() is None


def test_error_lines_keep_dbt_closing_summary() -> None:
    out = [
        "10:00:00  1 of 1 START test unique_a ..... [RUN]",
        "10:00:01  1 of 1 FAIL 2 unique_a ..... [FAIL 2 in 0.1s]",
        "10:00:01  Completed with 1 error, 0 partial successes, and 0 warnings:",
        "10:00:01  Failure in test unique_a (models/a.yml)",
        "10:00:01    Got 2 results, configured to fail if != 0",
        "10:00:01  Done. PASS=0 WARN=0 ERROR=1 SKIP=0 TOTAL=1",
    ]
    assert error_lines(out) == [line.strip() for line in out[2:]]
    assert error_lines(["plain", "Compilation Error in model x", "tail"]) == ["Compilation Error in model x"]


def test_failed_dbt_call_raises_with_its_error_lines(tmp_path: Path) -> None:
    fake = tmp_path / "dbt"
    fake.write_text("#!/bin/sh\necho 'Completed with 1 error'\necho 'Database Error in model a'\nexit 1\n")
    fake.chmod(0o755)
    seen: list[str] = []
    with pytest.raises(DbtCommandError, match=r"dbt run failed for fqn:payments.gold.fraud_flags:\n"):
        DbtProcess(call(tmp_path, str(fake))).run(seen.append)
    assert "Database Error in model a" in seen, "dbt's lines reach the task log"


def test_missing_executable_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SluiceError, match="dbt executable '/no/such/dbt' not found"):
        DbtProcess(call(tmp_path, "/no/such/dbt")).run(lambda _: None)


def _hold(path: str, started: float, queue: multiprocessing.Queue[tuple[float, float]]) -> None:
    with exclusive(Path(path), lambda _: None):
        begin = time.monotonic()
        time.sleep(0.3)
        queue.put((begin, time.monotonic()))


def test_lock_serialises_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[tuple[float, float]] = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(str(tmp_path / "l.lock"), 0.0, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    spans = sorted(queue.get(timeout=1) for _ in procs)
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert begin >= end, "no two holders overlap"
