"""A pipeline's recent runs as plain records, as sluice.report.airflow_runs reads them from
Airflow's metadata database (no Airflow import here, so the analysis is tested without it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class TaskTry:
    """One try of one task in one run."""

    task_id: str
    try_number: int
    state: str | None
    start: datetime | None
    end: datetime | None

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class NodeResult:
    """What a zone build published for one dbt node (its selector): dbt's status and seconds."""

    status: str
    seconds: float


@dataclass(frozen=True)
class Run:
    """One DAG run: every try of every task, and the node results its zone builds published."""

    run_id: str
    state: str | None
    start: datetime | None
    end: datetime | None
    tries: tuple[TaskTry, ...]
    nodes: dict[str, NodeResult] = field(default_factory=dict)

    def last_tries(self) -> dict[str, TaskTry]:
        """Each task's newest try."""
        out: dict[str, TaskTry] = {}
        for t in sorted(self.tries, key=lambda t: t.try_number):
            out[t.task_id] = t
        return out


@dataclass(frozen=True)
class History:
    """The last runs of one DAG, oldest first; ``where`` says which database they came from."""

    dag_id: str
    runs: tuple[Run, ...]
    where: str
