"""The demo pipeline under a real Airflow scheduler (LocalExecutor, PostgreSQL metadata), with a
fresh dbt process per task and with the warm dbt worker, against its ingestion plus one plain
`dbt build`.

Each measured run starts from an empty DuckDB file and no Airbyte sync state, so every run ingests
the same rows (the DAG's ingest task syncs the faker connection locally; the baseline runs the same
sync, then `dbt build`). Reported: the DAG run's duration as Airflow records it (start to end),
and the ratios the issue asks for. Run with `make bench-exec`; BENCH_RUNS sets the number of runs,
BENCH_LOG_LEVEL=INFO has Airflow log task lines, for `scheduled_run` driven by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "payments_daily"
WARMUP_DAG_ID = "sluice_bench_warmup"
# the repository's DAGs, and beside them bench/warmup's one-task DAG, run first (see its docstring)
BUNDLES = [
    {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
    {
        "name": "bench-warmup",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(REPO / "bench" / "warmup")},
    },
]
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
# the scheduler's sleep between loops when it has nothing to do (Airflow's default: 1 s); every
# level of the task graph waits for the next loop, so a deep dbt graph feels it
IDLE_SLEEP = os.environ.get("BENCH_SCHEDULER_IDLE_SLEEP", "0.1")
# one warehouse path for every run, emptied before each: the profile (and so dbt's partial-parse
# file) stays the same, as in a deployment where the path does not change between runs
WAREHOUSE = REPO / "bench" / ".cache" / "exec" / "warehouse.duckdb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_postgres() -> None:
    try:
        psycopg2.connect(dbname="postgres", connect_timeout=3, **PG).close()
    except psycopg2.OperationalError:
        versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=True
        )


def fresh_database(name: str) -> str:
    conn = psycopg2.connect(dbname="postgres", **PG)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"drop database if exists {name} with (force)")
        cur.execute(f"create database {name}")
    conn.close()
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"


def dag_known(db: str, dag_id: str) -> bool:
    """The DAG processor has stored the DAG (`dags unpause` quietly does nothing before that)."""
    conn = psycopg2.connect(dbname=db, **PG)
    with conn.cursor() as cur:
        cur.execute("select 1 from serialized_dag where dag_id = %s", (dag_id,))
        found = cur.fetchone() is not None
    conn.close()
    return found


def run_state(db: str, dag_id: str) -> tuple[str | None, float | None]:
    conn = psycopg2.connect(dbname=db, **PG)
    with conn.cursor() as cur:
        cur.execute(
            "select state, extract(epoch from end_date - start_date) from dag_run "
            "where dag_id = %s order by id desc limit 1",
            (dag_id,),
        )
        row = cur.fetchone()
    conn.close()
    return (row[0], float(row[1]) if row and row[1] is not None else None) if row else (None, None)


def wait_until(done: Callable[[], bool], seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(failure)
        time.sleep(0.5)


def wait_for_run(db: str, dag_id: str, work: Path) -> float:
    """Wait for the DAG's latest run to succeed; returns its duration in seconds."""
    wait_until(lambda: run_state(db, dag_id)[0] in ("success", "failed"), 900, f"{dag_id} did not finish")
    state, seconds = run_state(db, dag_id)
    if state != "success" or seconds is None:
        raise SystemExit(f"{dag_id} run {state}; see {work}")
    return seconds


def scheduled_run(mode: str, work: Path) -> float:
    """One scheduled run of the demo DAG; returns its duration in seconds."""
    db = f"sluice_bench_{mode}"
    port = free_port()
    tmp = work / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(BUNDLES),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "sluice-bench-only",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": fresh_database(db),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "SLUICE_DBT_EXECUTION": mode,
        "SLUICE_DUCKDB_PATH": str(WAREHOUSE),
        "SLUICE_DBT_WORKER_IDLE": "60",
        # dbt workers of this run only (their sockets live under $TMPDIR): a daily pipeline
        # finds none left from its previous run, and neither does a measured run
        "TMPDIR": str(tmp),
    }
    if IDLE_SLEEP:
        env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] = IDLE_SLEEP
    airflow = str(BIN / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    procs = []
    try:
        # the triggerer answers the dbt tasks from their zone's build task (worker execution)
        for role in (["api-server"], ["scheduler"], ["dag-processor"], ["triggerer"]):
            log = (work / f"{mode}-{role[0]}.log").open("w")
            procs.append(subprocess.Popen([airflow, *role], env=env, stdout=log, stderr=subprocess.STDOUT))
        for dag_id in (WARMUP_DAG_ID, DAG_ID):
            wait_until(lambda d=dag_id: dag_known(db, d), 180, f"{dag_id} never appeared; see {work}")
        # the warm-up DAG is not paused, so its one run starts by itself
        wait_for_run(db, WARMUP_DAG_ID, work)
        # unpausing makes the scheduler start exactly one run (the latest interval; catchup is
        # off), which is the run measured: a manual trigger on top would run two at once
        subprocess.run([airflow, "dags", "unpause", DAG_ID], env=env, check=True, capture_output=True)
        return wait_for_run(db, DAG_ID, work)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        stop_workers(tmp)


def stop_workers(tmp: Path) -> None:
    """SIGTERM the dbt workers whose sockets are under ``tmp``."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"sluice.runtime.dbt_worker" in argv and any(a.startswith(str(tmp).encode()) for a in argv):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(cmdline.parent.name), signal.SIGTERM)


def dbt(command: str) -> None:
    """One dbt command on the demo project, against the benchmark's warehouse."""
    subprocess.run(
        [
            str(BIN / "dbt"),
            command,
            "--quiet",
            "--project-dir",
            ".",
            "--profiles-dir",
            ".",
            "--target",
            "local",
        ],
        cwd=REPO / "dbt",
        env={**os.environ, "SLUICE_DUCKDB_PATH": str(WAREHOUSE)},
        check=True,
    )


def ingest(work: Path) -> float:
    """The DAG's sync, run the way its ingest task runs it here (a local faker run)."""
    from sluice.airbyte.config import load_config
    from sluice.airbyte.local_sync import run_local

    started = time.perf_counter()
    run_local(load_config(REPO / "airbyte_config"), "payments_raw", lambda _: None, duckdb_path=WAREHOUSE)
    return time.perf_counter() - started


def dbt_build(work: Path) -> float:
    started = time.perf_counter()
    dbt("build")
    return time.perf_counter() - started


def fresh_warehouse() -> None:
    """An empty warehouse and no sync state, so each run ingests the same rows; the connector's
    discovered catalog stays, as it does for a deployed connection (and for both arms alike)."""
    for path in list(WAREHOUSE.parent.rglob("*")) if WAREHOUSE.parent.exists() else []:
        if path.is_file() and not path.name.endswith(".discovered.json"):
            path.unlink()
    WAREHOUSE.parent.mkdir(parents=True, exist_ok=True)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    ensure_postgres()
    WAREHOUSE.parent.mkdir(parents=True, exist_ok=True)
    # what a deploy does once: parse with the target and profile the runs will use
    dbt("parse")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sluice-exec-") as tmp:
        for i in range(RUNS):
            for key, fn in (
                ("ingest", ingest),
                ("dbt build", dbt_build),  # on the rows the ingest just wrote
                ("subprocess", lambda w: scheduled_run("subprocess", w)),
                ("worker", lambda w: scheduled_run("worker", w)),
            ):
                work = Path(tmp) / f"{key.replace(' ', '_')}-{i}"
                work.mkdir()
                if key != "dbt build":
                    fresh_warehouse()
                results.setdefault(key, []).append(fn(work))
                print(f"{key} run {i + 1}: {results[key][-1]:.1f} s", file=sys.stderr)
                shutil.rmtree(work, ignore_errors=True)
    results["ingest + dbt build"] = [
        a + b for a, b in zip(results["ingest"], results["dbt build"], strict=True)
    ]
    base, sub, warm = (median(results[k]) for k in ("ingest + dbt build", "subprocess", "worker"))
    print("| execution | median s | runs |")
    print("|---|---:|---|")
    for key, label in (
        ("subprocess", "DAG, one dbt process per task (scheduler, LocalExecutor)"),
        ("worker", "DAG, warm dbt worker + zone builds, sluice's default (scheduler, LocalExecutor)"),
        ("ingest", "the local faker sync alone (no Airflow)"),
        ("dbt build", "one plain `dbt build` alone (no Airflow)"),
        ("ingest + dbt build", "ingestion + one `dbt build` (no Airflow)"),
    ):
        runs = ", ".join(f"{v:.1f}" for v in results[key])
        print(f"| {label} | {median(results[key]):.1f} | {runs} |")
    print(
        f"\nworker vs process per task: {sub / warm:.1f}x faster; "
        f"worker vs ingestion + dbt build: {warm / base:.2f}x"
    )
    print(f"scheduler_idle_sleep_time = {IDLE_SLEEP or 'Airflow default (1)'}; {RUNS} runs each")
    (REPO / "bench" / ".cache").mkdir(exist_ok=True)
    (REPO / "bench" / ".cache" / "exec_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
