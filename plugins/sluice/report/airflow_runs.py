"""The last runs of a DAG from Airflow's metadata database, through Airflow's own ORM and its
configured connection (AIRFLOW_HOME, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN): the runs, every try
of every task (task_instance and task_instance_history), and the node results each zone build
published as XComs (sluice.runtime.node_results)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sluice.errors import SluiceError
from sluice.report.history import History, NodeResult, Run, TaskTry
from sluice.runtime.node_results import HEAD_KEY


def read_history(dag_id: str, runs: int) -> History:
    """The newest ``runs`` runs of ``dag_id``, oldest first (none when it never ran)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with create_session() as session:
            url = session.get_bind().engine.url
            # the backend and database name only: a connection URL can hold a password
            where = f"{url.get_backend_name()} database {url.database}"
            found = session.execute(
                select(DagRun.run_id, DagRun.state, DagRun.start_date, DagRun.end_date)
                .where(DagRun.dag_id == dag_id)
                .order_by(DagRun.id.desc())
                .limit(runs)
            ).all()
            ids = [row.run_id for row in found]
            tries: dict[str, list[TaskTry]] = defaultdict(list)
            for model in (TaskInstance, TaskInstanceHistory):
                rows = session.execute(
                    select(
                        model.run_id,
                        model.task_id,
                        model.try_number,
                        model.state,
                        model.start_date,
                        model.end_date,
                    ).where(model.dag_id == dag_id, model.run_id.in_(ids))
                ).all()
                for r in rows:
                    state = None if r.state is None else str(getattr(r.state, "value", r.state))
                    tries[r.run_id].append(TaskTry(r.task_id, r.try_number, state, r.start_date, r.end_date))
            xcoms = session.execute(
                select(XComModel.run_id, XComModel.key, XComModel.value).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id.in_(ids),
                    XComModel.key.like(f"{HEAD_KEY}:%"),
                )
            ).all()
            nodes: dict[str, dict[str, NodeResult]] = defaultdict(dict)
            for x in xcoms:
                nodes[x.run_id].update(_results(XComModel.deserialize_value(x)))
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SluiceError(
            f"Airflow's metadata database: {first}; check AIRFLOW_HOME or the sql_alchemy_conn"
        ) from None
    return History(
        dag_id,
        tuple(
            Run(
                r.run_id, _state(r.state), r.start_date, r.end_date, _unique(tries[r.run_id]), nodes[r.run_id]
            )
            for r in reversed(found)
        ),
        where,
    )


def _state(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _unique(tries: list[TaskTry]) -> tuple[TaskTry, ...]:
    """A try can be in both tables for a moment (copied into the history as the next starts)."""
    return tuple({(t.task_id, t.try_number): t for t in tries}.values())


def _results(chunk: Any) -> dict[str, NodeResult]:
    if not isinstance(chunk, dict):
        return {}
    out = {}
    for selector, result in chunk.items():
        if isinstance(result, dict):
            try:
                out[str(selector)] = NodeResult(
                    str(result.get("status", "")), float(result.get("seconds") or 0)
                )
            except (TypeError, ValueError):
                continue
    return out
