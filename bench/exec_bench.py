"""The demo pipeline under the local Airflow `make up` ships, with a fresh dbt process per task
and with the warm dbt worker, against its ingestion plus one plain `dbt build`.

The Airflow is deploy/local_airflow.py's LocalAirflow (scheduler, DAG processor, triggerer, API
server; LocalExecutor, PostgreSQL metadata, FAST_SETTINGS exactly), with a fresh metadata
database and home per run. Each measured run starts from an empty DuckDB file and no Airbyte sync
state, so every run ingests the same rows (the DAG's ingest task syncs the faker connection
locally; the baseline runs the same sync, then `dbt build`). Reported: the DAG run's duration as
Airflow records it (start to end), and the ratios the issue asks for. Run with `make bench-exec`;
BENCH_RUNS sets the number of runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

import metadata_db  # noqa: E402
from deploy.local_airflow import LocalAirflow, free_port  # noqa: E402

BIN = Path(sys.executable).parent
DAG_ID = "payments_daily"
WARMUP_DAG_ID = "sluice_bench_warmup"
# the repository's DAGs, and beside them bench/warmup's one-task DAG, run first (see its docstring)
BUNDLES = [
    {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
    {
        "name": "bench-warmup",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(BENCH / "warmup")},
    },
]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
# one warehouse path for every run, emptied before each: the profile (and so dbt's partial-parse
# file) stays the same, as in a deployment where the path does not change between runs
WAREHOUSE = BENCH / ".cache" / "exec" / "warehouse.duckdb"


def first_run(local: LocalAirflow, dag_id: str, seconds: float = 180) -> str:
    """The id of the run the scheduler starts by itself once the DAG is unpaused."""
    deadline = time.monotonic() + seconds
    with local.api() as api:
        while time.monotonic() < deadline:
            runs = api.get(f"/dags/{dag_id}/dagRuns").raise_for_status().json()["dag_runs"]
            if runs:
                return str(runs[0]["dag_run_id"])
            time.sleep(0.5)
    raise SystemExit(f"the scheduler started no run of {dag_id} in {seconds:.0f} s; see {local.home}")


def scheduled_run(mode: str, work: Path) -> float:
    """One scheduled run of the demo DAG; returns its duration in seconds."""
    tmp = work / "tmp"
    tmp.mkdir()
    local = LocalAirflow(
        home=work / "home",
        port=free_port(),
        database=metadata_db.fresh_database(f"sluice_bench_{mode}"),
        extra_env={
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(BUNDLES),
            "SLUICE_DBT_EXECUTION": mode,
            "SLUICE_DUCKDB_PATH": str(WAREHOUSE),
            # dbt workers of this run only (their sockets live under $TMPDIR): a daily pipeline
            # finds none left from its previous run, and neither does a measured run
            "TMPDIR": str(tmp),
        },
    )
    try:
        local.up()
        warm = local.wait_for_run(WARMUP_DAG_ID, local.trigger(WARMUP_DAG_ID), 300)
        if warm["state"] != "success":
            raise SystemExit(f"the warm-up DAG {warm['state']}; see {work}")
        # unpausing makes the scheduler start exactly one run (the latest interval; catchup is
        # off), which is the run measured: a manual trigger on top would run two at once
        local.unpause(DAG_ID)
        run_id = first_run(local, DAG_ID)
        local.wait_for_run(DAG_ID, run_id, 900)
        timings = metadata_db.run_timings(local.database, DAG_ID, run_id)
    finally:
        local.down()
    if timings["state"] != "success" or timings["wall_s"] is None:
        raise SystemExit(f"{DAG_ID} run {timings['state']}; see {work}")
    return float(timings["wall_s"])


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
    metadata_db.ensure_postgres()
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
    print(f"{RUNS} runs each, under deploy/local_airflow.py's FAST_SETTINGS")
    (REPO / "bench" / ".cache").mkdir(exist_ok=True)
    (REPO / "bench" / ".cache" / "exec_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
