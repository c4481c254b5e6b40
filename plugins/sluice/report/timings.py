"""Run history against the plan: per zone, build and test seconds run by run, the slowest
models, the flakiest tests; and each node's mean seconds for the critical path and the cost of
dead models. No Airflow import.

A node's seconds are dbt's own, as the zone build published them; a node that no zone build
answered (subprocess execution, a retried task) counts its task's duration.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from statistics import mean

from sluice.plan.model import BUILD_KINDS, Plan, Task, TaskKind
from sluice.report.history import History, Run

#: task states that count as a test's failure (a test whose model failed did not run)
FAILED = frozenset({"failed"})
PASSED = frozenset({"success"})
#: task states of a try that ran
RAN = PASSED | FAILED | frozenset({"up_for_retry"})
#: dbt statuses of a node that did not run: its zone build skipped it or the run left it out
NOT_RUN = frozenset({"skipped", "deselected"})


def _task_seconds(run: Run, task: Task) -> float | None:
    """The task's dbt seconds in ``run``: its nodes' published results, else its newest try;
    None when it did not run."""
    results = [run.nodes[s] for s in task.select if s in run.nodes]
    if results:
        ran = [r.seconds for r in results if r.status not in NOT_RUN]
        return sum(ran) if ran else None
    tried = run.last_tries().get(task.id)
    return tried.seconds if tried and tried.state in PASSED | FAILED else None


def node_seconds(plan: Plan, history: History) -> dict[str, list[float]]:
    """Per built node (model, seed, snapshot), its seconds in each run that built it."""
    out: dict[str, list[float]] = defaultdict(list)
    for run in history.runs:
        for task in plan.tasks:
            if task.kind in BUILD_KINDS and task.node:
                seconds = _task_seconds(run, task)
                if seconds is not None:
                    out[task.node].append(seconds)
    return dict(out)


def mean_seconds(plan: Plan, history: History) -> dict[str, float]:
    return {uid: mean(values) for uid, values in node_seconds(plan, history).items()}


@dataclass(frozen=True)
class ZoneRun:
    """One zone in one run."""

    run_id: str
    start: str | None
    state: str | None
    #: dbt seconds of the zone's models, seeds and snapshots, added up
    build_seconds: float
    #: dbt seconds of the zone's tests, added up
    test_seconds: float
    #: from the zone's first task's start to its last task's end (tasks that ran); None: none ran
    wall_seconds: float | None


def zone_runs(plan: Plan, history: History, zone: str) -> list[ZoneRun]:
    tasks = [t for t in plan.tasks if t.zone == zone]
    out = []
    for run in history.runs:
        build = test = 0.0
        for task in tasks:
            seconds = _task_seconds(run, task) if task.kind in BUILD_KINDS | {TaskKind.TEST} else None
            if seconds is None:
                continue
            if task.kind is TaskKind.TEST:
                test += seconds
            else:
                build += seconds
        ids = {t.id for t in tasks}
        # a task marked upstream_failed or skipped gets dates too, but never ran
        tries = [t for t in run.tries if t.task_id in ids and t.state in RAN]
        starts = [t.start for t in tries if t.start]
        ends = [t.end for t in tries if t.end]
        wall = (max(ends) - min(starts)).total_seconds() if starts and ends else None
        out.append(
            ZoneRun(
                run.run_id,
                run.start.isoformat() if run.start else None,
                run.state,
                round(build, 3),
                round(test, 3),
                None if wall is None else round(wall, 3),
            )
        )
    return out


@dataclass(frozen=True)
class Flaky:
    """A test task that both failed and passed over the runs (a retry counts as a run's try)."""

    task: str
    failed: int
    passed: int
    #: the test nodes (selectors) a zone build reported failing, in any run
    failing_tests: tuple[str, ...]


def flaky_tests(plan: Plan, history: History, zone: str) -> list[Flaky]:
    """Test tasks of ``zone`` with at least one failed and one passed try, most failures first."""
    found = []
    for task in plan.tasks:
        if task.zone != zone or task.kind is not TaskKind.TEST:
            continue
        states = [t.state for run in history.runs for t in run.tries if t.task_id == task.id]
        failed = sum(1 for s in states if s in FAILED)
        passed = sum(1 for s in states if s in PASSED)
        if failed and passed:
            failing = sorted(
                {
                    s
                    for run in history.runs
                    for s in task.select
                    if s in run.nodes and run.nodes[s].status in ("fail", "error")
                }
            )
            found.append(Flaky(task.id, failed, passed, tuple(failing)))
    return sorted(found, key=lambda f: (-min(f.failed, f.passed), -f.failed, f.task))
