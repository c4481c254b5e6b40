"""The benchmarks' Airflow metadata databases (PostgreSQL): a fresh one per measured Airflow, and
where a DAG run's time went, per task instance, read from it.

For each task instance of the run: scheduled -> queued (the scheduler picking it and handing it
to the executor), queued -> started (waiting for an executor slot and the task process to come
up), started -> ended (running, including any time deferred). A deferred task that resumed was
queued again after it started: its second wait is not told apart here, so it is left out of the
queued figures and counted as `resumed`. A task that starts in the triggerer (Airflow's
start_from_trigger) is never queued to an executor: it has no scheduled->queued or queued->started,
its running time is all in the triggerer, and it is counted as `in_triggerer`.
"""

from __future__ import annotations

import hashlib
import statistics
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@dataclass(frozen=True)
class Spread:
    median: float
    p95: float
    total: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            return cls(0.0, 0.0, 0.0)
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return cls(statistics.median(ordered), p95, sum(ordered))

    def cell(self) -> str:
        return f"{self.median:.2f} / {self.p95:.2f} / {self.total:.0f}"


def ensure_postgres() -> None:
    """Start the installed PostgreSQL cluster if it does not answer."""
    try:
        psycopg2.connect(dbname="postgres", connect_timeout=3, **PG).close()
    except psycopg2.OperationalError:
        versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=True
        )


def fresh_database(purpose: str) -> str:
    """Drop and create the database for ``purpose`` in this checkout, and return its name: a
    measured run shares its scheduler with no earlier run. The name carries the checkout's path,
    so benchmarks in two worktrees never drop each other's database."""
    name = f"{purpose}_{hashlib.sha256(str(Path(__file__).resolve()).encode()).hexdigest()[:6]}"
    conn = psycopg2.connect(dbname="postgres", **PG)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
        cur.execute(f'create database "{name}"')
    conn.close()
    return name


def tasks_done(database: str, dag_id: str, run_id: str) -> tuple[int, int]:
    """(finished, all) task instances of a run: how far a run that ran out of time got."""
    conn = psycopg2.connect(dbname=database, **PG)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select count(*) filter (where state in ('success', 'failed', 'skipped', 'upstream_failed')),"
                " count(*) from task_instance where dag_id = %s and run_id = %s",
                (dag_id, run_id),
            )
            done, total = cur.fetchone()
    finally:
        conn.close()
    return int(done), int(total)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    return (later - earlier).total_seconds() if later and earlier else None


def run_timings(database: str, dag_id: str, run_id: str) -> dict[str, Any]:
    """The run's duration as Airflow records it, and the spread of each task phase."""
    conn = psycopg2.connect(dbname=database, **PG)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select start_date, end_date, state from dag_run where dag_id = %s and run_id = %s",
                (dag_id, run_id),
            )
            run_start, run_end, run_state = cur.fetchone()
            cur.execute(
                "select state, scheduled_dttm, queued_dttm, start_date, end_date from task_instance "
                "where dag_id = %s and run_id = %s",
                (dag_id, run_id),
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    to_queue, queued, running, states = [], [], [], {}
    resumed = in_triggerer = 0
    for state, scheduled, queued_at, start, end in rows:
        states[state] = states.get(state, 0) + 1
        in_triggerer += queued_at is None and start is not None
        if (s := _seconds(queued_at, scheduled)) is not None:
            to_queue.append(s)
        if (s := _seconds(start, queued_at)) is not None:
            if s < 0:
                resumed += 1
            else:
                queued.append(s)
        if (s := _seconds(end, start)) is not None:
            running.append(s)
    return {
        "state": run_state,
        "wall_s": _seconds(run_end, run_start),
        "tasks": len(rows),
        "task_states": states,
        "resumed": resumed,
        "in_triggerer": in_triggerer,
        "scheduled_to_queued": asdict(Spread.of(to_queue)),
        "queued": asdict(Spread.of(queued)),
        "running": asdict(Spread.of(running)),
    }
