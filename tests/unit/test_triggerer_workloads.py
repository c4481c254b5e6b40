"""sluice's tasks start in the triggerer without their DAG: Airflow's own
TriggerRunnerSupervisor._create_workload, with sluice's plugin installed, builds a plain workload
for sluice's trigger (no DAG looked up, deserialized or sent) and leaves other triggers alone."""

from __future__ import annotations

import importlib
import sys
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from sluice.airflow import triggerer_workloads
from sluice.airflow.node_trigger import CLASSPATH

pytestmark = pytest.mark.unit


class DagBag:
    """Counts what the triggerer asks of it; offers no DAG."""

    def __init__(self) -> None:
        self.asked = 0

    def get_serialized_dag_model_for_run(self, *args: Any, **kwargs: Any) -> None:
        self.asked += 1

    def get_serialized_dag_model(self, *args: Any, **kwargs: Any) -> None:
        self.asked += 1


def _trigger(classpath: str) -> SimpleNamespace:
    ti = SimpleNamespace(
        id=uuid.uuid4(),
        task_id="silver.orders_run",
        dag_id="shop",
        run_id="manual__1",
        try_number=1,
        dag_version_id=uuid.uuid4(),
        map_index=-1,
        hostname=None,
        context_carrier=None,
        queue="default",
        pool_slots=1,
        priority_weight=1,
        external_executor_id=None,
        executor_config=None,
        trigger_timeout=None,
        get_dagrun=lambda session: None,
    )
    return SimpleNamespace(id=7, classpath=classpath, encrypted_kwargs="x", task_instance=ti)


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = importlib.import_module("airflow.jobs.triggerer_job_runner")
    cls = module.TriggerRunnerSupervisor
    monkeypatch.setattr(cls, "_create_workload", vars(cls)["_create_workload"])
    assert triggerer_workloads.install(), "Airflow's triggerer no longer has the shape sluice relies on"
    return SimpleNamespace(job=SimpleNamespace(id=1), logger_cache={}, create=cls._create_workload)


def test_a_sluice_task_starts_from_a_plain_workload(supervisor: Any) -> None:
    bag = DagBag()
    workload = supervisor.create(supervisor, _trigger(CLASSPATH), bag, lambda ti: "log", None)
    assert bag.asked == 0
    assert workload.dag_data is None
    assert (workload.ti.dag_id, workload.ti.run_id, workload.ti.try_number) == ("shop", "manual__1", 1)
    assert workload.classpath == CLASSPATH


def test_other_triggers_are_built_as_airflow_builds_them(supervisor: Any) -> None:
    bag = DagBag()
    supervisor.create(
        supervisor,
        _trigger("airflow.providers.standard.triggers.temporal.DateTimeTrigger"),
        bag,
        lambda ti: "log",
        None,
    )
    assert bag.asked == 2


def test_installing_twice_wraps_once(supervisor: Any) -> None:
    first = supervisor.create
    assert triggerer_workloads.install()
    module = sys.modules["airflow.jobs.triggerer_job_runner"]
    assert module.TriggerRunnerSupervisor._create_workload is first


def test_the_plugin_installs_it_when_the_triggerer_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    import sluice_plugin

    module = importlib.import_module("airflow.jobs.triggerer_job_runner")
    cls = module.TriggerRunnerSupervisor
    monkeypatch.setattr(cls, "_create_workload", vars(cls)["_create_workload"])
    (listener,) = sluice_plugin.SluicePlugin.listeners
    listener.on_starting(component=SimpleNamespace(job_type=None))
    assert getattr(cls._create_workload, "sluice_plain", False)
