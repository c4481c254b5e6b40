"""The scheduler's search for a task's relevant setup tasks, with sluice's shortcut installed:
the same answers as Airflow's own, without walking the DAG where the DAG has no setup task."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from airflow._shared.dagnode.node import GenericDAGNode
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization

from sluice.airflow import scheduler_shortcuts
from sluice.airflow.dag_files import load_dags
from tests.conftest import REPO

pytestmark = pytest.mark.unit


def scheduler_copy(dag: DAG) -> Any:
    """The DAG as the scheduler holds it: deserialized from its stored form."""
    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Airflow's answer before the shortcut, and a count of its walks through the DAG."""
    monkeypatch.setattr(
        GenericDAGNode, "get_upstreams_only_setups", vars(GenericDAGNode)["get_upstreams_only_setups"]
    )
    monkeypatch.setattr(scheduler_shortcuts, "_setups", type(scheduler_shortcuts._setups)())
    walked: list[str] = []
    real = GenericDAGNode.get_flat_relative_ids

    def counting(self: Any, upstream: bool = False, depth: int | None = None) -> set[str]:
        walked.append(self.task_id)
        return real(self, upstream=upstream, depth=depth)

    monkeypatch.setattr(GenericDAGNode, "get_flat_relative_ids", counting)
    yield walked


def answers(dag: Any) -> dict[str, list[str]]:
    return {t.task_id: sorted(s.task_id for s in t.get_upstreams_only_setups()) for t in dag.tasks}


def test_a_dag_without_setup_tasks_answers_without_walking_it(walks: list[str]) -> None:
    dag = scheduler_copy(load_dags(REPO / "dags" / "pipelines")["payments_daily"])
    before = answers(dag)
    assert walks, "Airflow walks the DAG for every task"
    walks.clear()
    assert scheduler_shortcuts.install()
    assert answers(dag) == before == {t.task_id: [] for t in dag.tasks}
    assert walks == []


def test_a_dag_with_setup_tasks_gets_airflows_own_answer(walks: list[str]) -> None:
    with DAG("with_setup", schedule=None, start_date=datetime(2026, 1, 1)) as authored:
        create = EmptyOperator(task_id="create_cluster").as_setup()
        work = EmptyOperator(task_id="work")
        delete = EmptyOperator(task_id="delete_cluster").as_teardown(setups=create)
        create >> work >> delete
    dag = scheduler_copy(authored)
    before = answers(dag)
    assert before["work"] == ["create_cluster"]
    assert scheduler_shortcuts.install()
    assert answers(dag) == before


def test_installing_twice_wraps_once(walks: list[str]) -> None:
    assert scheduler_shortcuts.install()
    first = GenericDAGNode.get_upstreams_only_setups
    assert scheduler_shortcuts.install()
    assert GenericDAGNode.get_upstreams_only_setups is first
