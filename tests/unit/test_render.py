"""The DAG sluice renders: its dbt tasks are copies of the first task Airflow's constructor built
in each task group, and they must be exactly what the constructor would have built."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import DAG, TaskGroup
from airflow.serialization.serialized_objects import DagSerialization

from sluice.airflow import task_copies
from sluice.airflow.loader import load_dags
from sluice.airflow.operators import DbtNodeOperator, dbt_task
from tests.conftest import REPO


def _demo_dag() -> DAG:
    return load_dags(REPO / "dags" / "pipelines")["payments_daily"]


def _serialized(dag: DAG) -> str:
    return json.dumps(DagSerialization.to_dict(dag), sort_keys=True, default=str)


def _constructed(self: Any, call: Any, name: str, group: Any, doc_md: str) -> DbtNodeOperator:
    return dbt_task(call, task_id=name, task_group=group, doc_md=doc_md)


def _recorded(task: DbtNodeOperator) -> dict[str, Any]:
    """What the constructor records of its arguments (partial() and mapping read it), with the
    DAG and task group by name: two renders hold two of each."""
    kwargs = task._BaseOperator__init_kwargs  # type: ignore[attr-defined]
    return {
        k: v.dag_id if isinstance(v, DAG) else v.group_id if isinstance(v, TaskGroup) else v
        for k, v in kwargs.items()
    }


def test_copied_tasks_serialize_exactly_as_constructed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    copied = _demo_dag()
    monkeypatch.setattr(task_copies.TaskCopies, "dbt_task", _constructed)
    constructed = _demo_dag()
    assert sum(isinstance(t, DbtNodeOperator) for t in copied.tasks) > 3 * len(copied.task_group.children)
    assert _serialized(copied) == _serialized(constructed)
    for task in constructed.tasks:
        twin = copied.get_task(task.task_id)
        assert type(twin) is type(task)
        assert twin.task_group.group_id == task.task_group.group_id
        if isinstance(task, DbtNodeOperator):
            assert twin.call == task.call
            assert _recorded(twin) == _recorded(task)


def test_copied_tasks_share_no_mutable_state() -> None:
    """Upstream ids, callbacks, params...: a copy sharing one with its original would wire or
    configure both at once."""
    dag = _demo_dag()
    seen: dict[int, str] = {}
    for task in dag.tasks:
        for attr, value in vars(task).items():
            if isinstance(value, (set, list, dict)) or type(value).__name__ == "ParamsDict":
                assert id(value) not in seen, f"{task.task_id}.{attr} is also {seen[id(value)]}"
                seen[id(value)] = f"{task.task_id}.{attr}"
