"""After `make run`: per zone, models built, tests passed and seconds, read from Airflow's DB."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from sluice.plan.from_spec import plan_spec
from sluice.plan.model import BUILD_KINDS, TaskKind
from sluice.settings import settings
from sluice.spec.reader import find_spec, load_spec


def _states(dag_id: str) -> tuple[str, str, dict[str, tuple[str | None, float | None, float | None]]]:
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).first()
        if run is None:
            return "", "no run", {}
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        found = {
            ti.task_id: (
                ti.state,
                ti.start_date.timestamp() if ti.start_date else None,
                ti.end_date.timestamp() if ti.end_date else None,
            )
            for ti in tis
        }
        return run.run_id, str(run.state), found


def _synced(dag_id: str, run_id: str, task_ids: list[str]) -> dict[str, object]:
    """What each sync task returned: rows per stream (local run) or the Airbyte job id."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.task_id.in_(task_ids),
                XComModel.key == "return_value",
            )
        ).all()
    return {str(task_id): json.loads(value) if isinstance(value, str) else value for task_id, value in rows}


def _sync_line(task_id: str, result: object, state: str | None) -> str:
    if isinstance(result, dict) and "quarantined" in result:  # an event load (event_operators.py)
        loaded = (
            f"{result.get('objects')} objects, {result.get('rows')} rows, {result['quarantined']} quarantined"
        )
        return f"{task_id}: {state}; events loaded: {loaded}"
    if isinstance(result, dict):
        streams = ", ".join(f"{stream} {rows}" for stream, rows in result.items())
        return f"{task_id}: {state}; rows synced: {streams}"
    if result is not None:
        return f"{task_id}: {state}; Airbyte job {result}"
    return f"{task_id}: {state}"


def summarize(pipeline: str, specs_dir: str | None = None) -> tuple[str, bool]:
    """The summary text and whether every task succeeded."""
    plan = plan_spec(load_spec(find_spec(pipeline, specs_dir or settings().specs_dir)))
    run_id, run_state, states = _states(plan.pipeline)
    rows = [f"{plan.pipeline} {run_id}: {run_state}"]
    syncs = [t.id for t in plan.tasks if t.kind is TaskKind.INGEST]
    if syncs and run_id:
        results = _synced(plan.pipeline, run_id, syncs)
        rows += [_sync_line(t, results.get(t), states.get(t, (None, None, None))[0]) for t in syncs]
    # a source past its error_after stops its zone: said before the zones' counts it explains
    checks = [t.id for t in plan.tasks if t.kind is TaskKind.FRESHNESS]
    rows += [f"{t}: {states.get(t, (None, None, None))[0]}" for t in checks]
    rows += [
        f"{'zone':<10}{'models built':>14}{'tests passed':>14}{'seconds':>9}  publish",
    ]
    per_zone: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    spans: dict[str, list[float]] = defaultdict(list)
    published: dict[str, str] = {}
    for task in plan.tasks:
        state, start, end = states.get(task.id, (None, None, None))
        counts = per_zone[task.zone or ""]
        ok = state == "success"
        if task.kind in BUILD_KINDS:
            counts[0] += ok
            counts[1] += 1
        elif task.kind is TaskKind.TEST:
            n = len(task.select)  # one selector per test
            counts[2] += n if ok else 0
            counts[3] += n
        elif task.kind is TaskKind.PUBLISH and task.zone:
            published[task.zone] = "atomic: " + ("published" if ok else "NOT published, live unchanged")
        spans[task.zone or ""] += [t for t in (start, end) if t is not None]
    for zone in plan.zones:
        built, nodes, passed, tests = per_zone[zone]
        seconds = max(spans[zone]) - min(spans[zone]) if spans[zone] else 0.0
        publish = published.get(zone, "barrier")
        rows.append(f"{zone:<10}{f'{built}/{nodes}':>14}{f'{passed}/{tests}':>14}{seconds:>9.1f}  {publish}")
    duckdb = settings().duckdb_path
    if duckdb:
        rows.append(f"DuckDB file: {duckdb}  (gold tables in schema gold)")
    return "\n".join(rows), run_state == "success"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise the latest run of a pipeline.")
    parser.add_argument("pipeline")
    parser.add_argument("--log", help="run log whose dbt errors to show when the run failed")
    args = parser.parse_args(argv)
    text, ok = summarize(args.pipeline)
    if not ok and args.log and Path(args.log).exists():
        lines = Path(args.log).read_text().splitlines()
        marks = ("DbtCommandError", "PublishError", "AirflowFailException")  # the last: a stale source
        failed = [line for line in lines if any(mark in line for mark in marks)]
        text += "\n" + "\n".join(failed[-5:])
    print(text)  # noqa: T201
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
