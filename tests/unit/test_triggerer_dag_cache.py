"""The triggerer deserializes a DAG once per DAG version, not once per task that starts in it
(Airflow's own TriggerRunner.create_runtime_ti, with sluice's cache installed)."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.executors.workloads import TaskInstanceDTO
from airflow.serialization.serialized_objects import DagSerialization

from sluice.airflow import triggerer_dag_cache
from sluice.airflow.dag_files import load_dags
from tests.conftest import REPO

pytestmark = pytest.mark.unit


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Airflow's triggerer module with the cache installed, put back as it was afterwards."""
    module = importlib.import_module("airflow.jobs.triggerer_job_runner")
    monkeypatch.setattr(module, "DagSerialization", module.DagSerialization)
    monkeypatch.setattr(
        module.TriggerRunner, "create_runtime_ti", vars(module.TriggerRunner)["create_runtime_ti"]
    )
    monkeypatch.setattr(triggerer_dag_cache, "_dags", type(triggerer_dag_cache._dags)())
    deserialized: list[str] = []
    real = DagSerialization.from_dict.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, serialized_obj: dict[str, Any]) -> Any:
        deserialized.append(serialized_obj["dag"]["dag_id"])
        return real(cls, serialized_obj)

    monkeypatch.setattr(DagSerialization, "from_dict", classmethod(counting))
    assert triggerer_dag_cache.install(), "Airflow's triggerer no longer has the shape the cache relies on"
    module.deserialized = deserialized
    yield module


def _ti(task_id: str, version: uuid.UUID) -> TaskInstanceDTO:
    return TaskInstanceDTO(
        id=uuid.uuid4(),
        task_id=task_id,
        dag_id="payments_daily",
        run_id="manual__1",
        try_number=1,
        dag_version_id=version,
        pool_slots=1,
        priority_weight=1,
    )


def _run_data() -> dict[str, Any]:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return {
        "dag_id": "payments_daily",
        "run_id": "manual__1",
        "logical_date": now,
        "data_interval_start": now,
        "data_interval_end": now,
        "run_after": now,
        "start_date": now,
        "run_type": "manual",
        "state": "running",
        "end_date": None,
        "partition_key": None,
        "consumed_asset_events": [],
    }


def test_each_dag_version_is_deserialized_once_for_all_its_tasks(runner: Any, tmp_path: Any) -> None:
    dag = load_dags(REPO / "dags" / "pipelines")["payments_daily"]
    encoded = DagSerialization.to_dict(dag)
    tasks = [t.task_id for t in dag.tasks if t.start_from_trigger]
    assert len(tasks) > 10
    first, second = uuid.uuid4(), uuid.uuid4()
    made = [runner.TriggerRunner.create_runtime_ti(_ti(t, first), encoded, _run_data()) for t in tasks]
    assert [ti.task.task_id for ti in made] == tasks
    assert [ti.task_id for ti in made] == tasks
    assert runner.deserialized == ["payments_daily"]
    # a new version of the DAG (a deploy) is deserialized again; the old one stays for its runs
    runner.TriggerRunner.create_runtime_ti(_ti(tasks[0], second), encoded, _run_data())
    runner.TriggerRunner.create_runtime_ti(_ti(tasks[1], first), encoded, _run_data())
    assert runner.deserialized == ["payments_daily", "payments_daily"]
    context = made[0].get_template_context()
    assert context["dag_run"].run_id == "manual__1"


def test_installing_twice_wraps_once(runner: Any) -> None:
    assert triggerer_dag_cache.install()
    create = vars(runner.TriggerRunner)["create_runtime_ti"].__func__
    assert create.__qualname__.startswith("install.")
    assert not getattr(runner.DagSerialization.__mro__[1], "sluice_cached", False)


def test_outside_the_triggerer_nothing_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(__import__("sys").modules, "airflow.jobs.triggerer_job_runner", raising=False)
    assert not triggerer_dag_cache.install()
