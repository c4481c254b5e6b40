"""Whole DAG runs of generated dbt projects (100, 500 and 1,000 models) under the local Airflow
`make up` ships, beside one plain `dbt build` and astronomer-cosmos, on the same project and the
same DuckDB warehouse.

The Airflow is deploy/local_airflow.py's LocalAirflow: scheduler, DAG processor, triggerer and
API server, LocalExecutor, PostgreSQL metadata and FAST_SETTINGS exactly (nothing here overrides
them); cosmos runs under the same class with its own virtualenv's `airflow`. Per size, each from
an empty warehouse and the same `dbt parse` of the project:

1. `dbt build` (the baseline);
2. sluice, a spec with three zones by folder, gold published atomically;
3. cosmos ExecutionMode.WATCHER: one `dbt build` feeding a sensor per model and per test;
4. cosmos ExecutionMode.LOCAL (its default): a dbt process per task, in a one-slot pool since
   DuckDB lets one process write. It gets BENCH_COSMOS_LOCAL_BUDGET seconds (1500); a size it
   would need longer for (its time at a smaller size, scaled by the model count) or did not
   finish in is skipped, and the table says why.

Each Airflow arm gets a fresh metadata database and home, runs a one-task warm-up DAG (a fresh API
server is slow to answer its first task), then the measured DAG is triggered through the REST
API. Reported: the run's wall time as Airflow records it (dag_run start to end) and its ratio to
`dbt build`; per task instance scheduled->queued, queued->started and running (median, p95, sum);
CPU seconds during the run of the scheduler process alone, of the executor workers and the tasks
they run (the rest of the scheduler's tree), of the API server, and of sluice's dbt worker; peak
RSS (VmHWM, sampled) of an executor worker, a task process, a process a task started (cosmos's
dbt), and sluice's dbt worker. A task that starts and ends in the triggerer (sluice's model and
test tasks) has no queued phase: the table counts those tasks.

BENCH_SIZES (100,500,1000) and BENCH_ARMS choose what runs; results go to
bench/.cache/scale_results.json, each arm's Airflow home (task logs) to bench/.cache/scale-runs.
Run with `make bench-scale`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

import genproject  # noqa: E402
import metadata_db  # noqa: E402
import peers  # noqa: E402
import procstat  # noqa: E402
from deploy.local_airflow import FAST_SETTINGS, LocalAirflow, dbt_workers, free_port  # noqa: E402

from sluice.runtime.file_locks import duckdb_lock_path  # noqa: E402

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "100,500,1000").split(",")]
ARMS = os.environ.get("BENCH_ARMS", "dbt build,sluice,cosmos watcher,cosmos local").split(",")
RUN_TIMEOUT = float(os.environ.get("BENCH_RUN_TIMEOUT", "3600"))
COSMOS_LOCAL_BUDGET = float(os.environ.get("BENCH_COSMOS_LOCAL_BUDGET", "1500"))
WARMUP_DAG = "sluice_bench_warmup"
DBT = Path(sys.executable).parent / "dbt"
RESULTS = BENCH / ".cache" / "scale_results.json"
RUNS = BENCH / ".cache" / "scale-runs"
ROLES_CPU = ("scheduler", "executor and tasks", "api-server", "dag-processor", "triggerer", "dbt worker")
PEAKS = ("executor worker", "task process", "process below a task", "dbt worker")

SPEC = """\
pipeline: scale_bench
schedule: null
start_date: 2026-01-01
dbt:
  project_dir: {project}
  target: local
tests: after_model
zones:
  - name: bronze
    select: [path:seeds, path:models/bronze]
  - name: silver
    select: [path:models/silver]
  - name: gold
    select: [path:models/gold]
    publish: atomic
"""


@dataclass(frozen=True)
class Arm:
    """One way of running the project under Airflow."""

    key: str
    dag_id: str
    label: str
    cosmos_mode: str | None = None  # an ExecutionMode member; None for sluice
    pool: str | None = None


AIRFLOW_ARMS = {
    "sluice": Arm(
        "sluice",
        "scale_bench",
        "sluice (its default: zone build tasks in a warm dbt worker, model and test tasks in the triggerer)",
    ),
    "cosmos watcher": Arm(
        "cosmos watcher", "cosmos_watcher", "astronomer-cosmos 1.15.1, ExecutionMode.WATCHER", "WATCHER"
    ),
    "cosmos local": Arm(
        "cosmos local",
        "cosmos_local",
        "astronomer-cosmos 1.15.1, ExecutionMode.LOCAL (its default)",
        "LOCAL",
        pool="duckdb_writer",
    ),
}


@dataclass(frozen=True)
class Project:
    """A generated project, its warehouse, and the deploy's parse of it (kept aside, put back
    before each arm: a run may write target/ again, with other vars or a new invocation id)."""

    models: int
    root: Path
    warehouse: Path

    @property
    def manifest(self) -> Path:
        return self.root / "target" / "manifest.json"

    @property
    def kept(self) -> Path:
        return self.root.with_suffix(".parse")

    def parse(self) -> None:
        """What a deploy does once: parse with the target and warehouse the runs use (from
        scratch: an earlier partial parse may hold another project path)."""
        (self.root / "target" / "partial_parse.msgpack").unlink(missing_ok=True)
        self.dbt("parse")
        shutil.rmtree(self.kept, ignore_errors=True)
        self.kept.mkdir()
        for name in ("manifest.json", "partial_parse.msgpack"):
            shutil.copy2(self.root / "target" / name, self.kept / name)

    def fresh(self) -> None:
        """An empty warehouse and the deploy's parse."""
        for path in (self.warehouse, Path(f"{self.warehouse}.wal"), duckdb_lock_path(self.warehouse)):
            path.unlink(missing_ok=True)
        for kept in self.kept.iterdir():
            shutil.copy2(kept, self.root / "target" / kept.name)

    def dbt(self, command: str) -> None:
        root = str(self.root)
        subprocess.run(
            [
                str(DBT),
                command,
                "--quiet",
                "--project-dir",
                root,
                "--profiles-dir",
                root,
                "--target",
                "local",
            ],
            cwd=root,
            env={**os.environ, genproject.DUCKDB_VAR: str(self.warehouse)},
            check=True,
        )

    def shape(self) -> dict[str, int]:
        nodes = json.loads(self.manifest.read_text())["nodes"].values()
        counts = {"seeds": 0, "view": 0, "table": 0, "incremental": 0, "tests": 0}
        for node in nodes:
            kind = node["resource_type"]
            if kind == "model":
                counts[node["config"]["materialized"]] += 1
            elif kind in ("seed", "test"):
                counts[kind + "s"] += 1
        return counts


def load() -> str:
    """The 1, 5 and 15 minute load averages: the machine is shared."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def dbt_build(project: Project) -> dict[str, Any]:
    project.fresh()
    started = time.perf_counter()
    project.dbt("build")
    return {"wall_s": time.perf_counter() - started}


def write_dags(arm: Arm, project: Project, dags: Path) -> None:
    dags.mkdir(parents=True)
    if arm.cosmos_mode:
        peers.write_cosmos_run_dag(
            dags, arm.dag_id, project.root, project.manifest, arm.cosmos_mode, DBT, arm.pool
        )
    else:
        (dags / "pipelines").mkdir()
        shutil.copy(REPO / "dags" / "sluice_dags.py", dags)
        (dags / "pipelines" / f"{arm.dag_id}.yml").write_text(SPEC.format(project=project.root))
    shutil.copy(BENCH / "warmup" / f"{WARMUP_DAG}.py", dags)


def airflow_run(arm: Arm, project: Project, work: Path, budget: float) -> dict[str, Any]:
    """One DAG run of ``arm`` under a LocalAirflow of its own, stopped afterwards."""
    database = metadata_db.fresh_database(f"sluice_scale_{arm.dag_id}_{project.models}")
    write_dags(arm, project, work / "dags")
    plugins, bin_dir = REPO / "plugins", Path(sys.executable).parent
    if arm.cosmos_mode:
        # sluice's plugins are no part of cosmos's Airflow
        plugins, bin_dir = work / "plugins", peers.ensure_venv("cosmos").parent
        plugins.mkdir()
    (work / "t").mkdir()
    # the project's warehouse, and a TMPDIR of this run's own: its dbt workers' sockets live there
    env = {genproject.DUCKDB_VAR: str(project.warehouse), "TMPDIR": str(work / "t")}
    assert not env.keys() & FAST_SETTINGS.keys(), "the benchmark runs with the shipped settings"
    local = LocalAirflow(
        home=work / "home",
        port=free_port(),
        database=database,
        dags_folder=work / "dags",
        plugins_folder=plugins,
        extra_env=env,
        bin_dir=bin_dir,
    )
    project.fresh()
    ambient = ambient_settings(local)
    try:
        local.up()
        warm = local.wait_for_run(WARMUP_DAG, local.trigger(WARMUP_DAG), 300)
        if warm["state"] != "success":
            raise SystemExit(f"the warm-up DAG {warm['state']}; see {local.home}")
        if arm.pool:
            with local.api() as api:
                api.post("/pools", json={"name": arm.pool, "slots": 1}).raise_for_status()
        local.unpause(arm.dag_id, wait=600)
        return {**measure(local, arm, database, budget), "ambient_settings": ambient}
    finally:
        local.down()


def ambient_settings(local: LocalAirflow) -> dict[str, str]:
    """Airflow settings this shell passes to the Airflow beside what LocalAirflow sets (none under
    make): reported, since they make the run differ from what `make up` gives a user."""
    secret = ("SECRET", "PASSWORD", "CONN", "KEY", "TOKEN")
    own = local.settings()
    passed = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW__") and k not in own}
    return {k: v for k, v in passed.items() if not any(w in k for w in secret)}


def measure(local: LocalAirflow, arm: Arm, database: str, budget: float) -> dict[str, Any]:
    roles = local.running()

    def classify(procs: dict[int, procstat.Proc]) -> Iterator[tuple[str, int]]:
        workers = set(dbt_workers(local.home))
        for pid in workers:
            yield "dbt worker", pid
        for pid, depth in procstat.depths(procs, roles["scheduler"]).items():
            if pid in workers or not depth:
                continue
            if depth == 1 and procstat.comm(pid).startswith("airflow serve"):
                yield "log server", pid  # LocalExecutor's, beside its workers
            else:
                yield ("executor worker", "task process", "process below a task")[min(depth, 3) - 1], pid

    before, load_before = procstat.snapshot(), load()
    with procstat.PeakSampler(classify) as sampler:
        run_id = local.trigger(arm.dag_id)
        try:
            # the wall time is Airflow's record of the run; asking often would load the API server
            local.wait_for_run(arm.dag_id, run_id, seconds=budget, poll=5)
            finished = True
        except TimeoutError:
            finished = False
        after = procstat.snapshot()
        workers = list(dbt_workers(local.home))
    result = metadata_db.run_timings(database, arm.dag_id, run_id)
    result["finished"] = finished
    result["tasks_done"] = metadata_db.tasks_done(database, arm.dag_id, run_id)[0]
    result["cpu_s"] = cpu_by_role(before, after, roles, workers)
    result["peak_rss_mib"] = sampler.peaks
    result["processes"] = sampler.names
    result["load"] = {"before": load_before, "after": load()}
    return result


def cpu_by_role(
    before: dict[int, procstat.Proc],
    after: dict[int, procstat.Proc],
    roles: dict[str, int],
    workers: list[int],
) -> dict[str, float]:
    """CPU seconds each part spent between the two snapshots. sluice's dbt workers started during
    the run and live in sessions of their own (outside the scheduler's tree once their task ends)."""
    held = set().union(*(procstat.descendants(after, w) for w in workers))

    def tree(procs: dict[int, procstat.Proc], root: int) -> float:
        return sum(procs[p].cpu_ticks for p in procstat.descendants(procs, root) - held) / procstat.TICKS

    sched = roles["scheduler"]
    own = procstat.own_cpu(after, sched) - procstat.own_cpu(before, sched)
    spent = {"scheduler": own, "executor and tasks": tree(after, sched) - tree(before, sched) - own}
    for role in ("api-server", "dag-processor", "triggerer"):
        spent[role] = tree(after, roles[role]) - tree(before, roles[role])
    spent["dbt worker"] = sum(after[p].cpu_ticks for p in held) / procstat.TICKS
    return spent


def too_long(size: int, smaller: tuple[int, float] | None) -> str | None:
    """Why cosmos local is not run at ``size``, given its last finished (size, seconds): its
    tasks run one at a time, so its time grows with the task count, and with the model count."""
    if smaller is None:
        return None
    models, seconds = smaller
    expected = seconds * size / models
    if expected <= COSMOS_LOCAL_BUDGET:
        return None
    return (
        f"skipped: {seconds / 60:.0f} min at {models} models, so about {expected / 60:.0f} min here, "
        f"over the {COSMOS_LOCAL_BUDGET / 60:.0f}-min budget"
    )


def run_size(size: int, skip: dict[str, str], finished: dict[str, tuple[int, float]]) -> dict[str, Any]:
    manifest = genproject.ensure_runnable(size)
    project = Project(size, manifest.parents[1], genproject.runnable_warehouse(size))
    project.parse()
    row: dict[str, Any] = {"models": size, "shape": project.shape(), "arms": {}}
    for key in ARMS:
        print(f"{size} models: {key} (load {load()})", file=sys.stderr, flush=True)
        if key == "cosmos local" and (reason := too_long(size, finished.get(key))):
            skip[key] = reason
        if key in skip:
            row["arms"][key] = {"skipped": skip[key]}
            continue
        if key == "dbt build":
            row["arms"][key] = dbt_build(project)
        else:
            arm = AIRFLOW_ARMS[key]
            budget = COSMOS_LOCAL_BUDGET if key == "cosmos local" else RUN_TIMEOUT
            # kept until the next run of the arm: its Airflow home holds every task's log
            work = RUNS / f"{arm.dag_id}-{size}"
            shutil.rmtree(work, ignore_errors=True)
            result = airflow_run(arm, project, work, budget)
            row["arms"][key] = {"label": arm.label, **result}
            if result["finished"]:
                finished[key] = (size, result["wall_s"])
            else:
                skip[key] = f"skipped: did not finish within {budget / 60:.0f} min at {size} models"
        print(json.dumps({key: row["arms"][key]}, default=str), file=sys.stderr, flush=True)
        if row["arms"][key].get("ambient_settings"):
            print(f"NOT the shipped settings: also {row['arms'][key]['ambient_settings']}", file=sys.stderr)
    return row


def ratio(arm: dict[str, Any], base: dict[str, Any] | None) -> str:
    if "skipped" in arm:
        return arm["skipped"]
    if not arm.get("finished", True) or arm.get("state", "success") != "success":
        return f"{arm.get('state')}: {arm.get('tasks_done')} of {arm.get('tasks')} tasks done in the budget"
    wall = f"{arm['wall_s']:.1f} s"
    return f"{wall} ({arm['wall_s'] / base['wall_s']:.2f}x)" if base else wall


def tables(rows: list[dict[str, Any]]) -> str:
    airflow_arms = [a for a in ARMS if a != "dbt build"]
    head = ["models", "seeds / views / tables / incrementals / tests", "dbt build", *airflow_arms]
    out = ["| " + " | ".join(head) + " |", "|" + "---:|" * 3 + "---|" * len(airflow_arms)]
    for row in rows:
        s, arms = row["shape"], row["arms"]
        base = arms.get("dbt build")
        cells = [
            str(row["models"]),
            f"{s['seeds']} / {s['view']} / {s['table']} / {s['incremental']} / {s['tests']}",
        ]
        cells.append(f"{base['wall_s']:.1f} s" if base else "-")
        cells += [ratio(arms[a], base) if a in arms else "-" for a in airflow_arms]
        out.append("| " + " | ".join(cells) + " |")
    out += [
        "",
        "| models | arm | task instances (in the triggerer) | scheduled→queued s | queued→started s "
        "| running s | CPU s: " + " / ".join(ROLES_CPU) + " | peak RSS MiB: " + " / ".join(PEAKS) + " |",
        "|---:|---|---:|---|---|---|---|---|",
    ]
    for row in rows:
        for key, arm in row["arms"].items():
            if key == "dbt build" or "skipped" in arm:
                continue
            spreads = [
                metadata_db.Spread(**arm[p]).cell() for p in ("scheduled_to_queued", "queued", "running")
            ]
            cpu = " / ".join(f"{arm['cpu_s'][r]:.0f}" for r in ROLES_CPU)
            peaks = " / ".join(
                f"{arm['peak_rss_mib'][p]:.0f}" if p in arm["peak_rss_mib"] else "-" for p in PEAKS
            )
            out.append(
                f"| {row['models']} | {key} | {arm['tasks']} ({arm['in_triggerer']}) | {' | '.join(spreads)} "
                f"| {cpu} | {peaks} |"
            )
    return "\n".join(out)


def main() -> None:
    metadata_db.ensure_postgres()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    rows: list[dict[str, Any]] = []
    skip: dict[str, str] = {}
    finished: dict[str, tuple[int, float]] = {}
    for size in SIZES:
        rows.append(run_size(size, skip, finished))
        RESULTS.write_text(json.dumps({"commit": commit, "uptime_before": uptime, "rows": rows}, indent=2))
    after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    RESULTS.write_text(
        json.dumps({"commit": commit, "uptime_before": uptime, "uptime_after": after, "rows": rows}, indent=2)
    )
    print(tables(rows))
    print(f"\nspread cells: median / p95 / sum over task instances; commit {commit}")
    print(f"uptime before: {uptime}\nuptime after:  {after}\nraw numbers: {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
