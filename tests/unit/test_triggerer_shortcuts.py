"""sluice's shortcuts in Airflow's triggerer (Airflow's own code, with them installed):
- TriggerRunnerSupervisor._create_workload builds a plain workload for sluice's trigger (no DAG
  looked up, deserialized or sent) and leaves other triggers alone;
- the success callback of a task sluice's trigger ended is not queued for the DAG processor;
  its failure callback and every other task's callbacks are;
- with SLUICE_TRIGGERER_LOOP_SECONDS, both triggerer loops wait that long between rounds."""

from __future__ import annotations

import importlib
import selectors
import time
import uuid
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from airflow.callbacks.callback_requests import TaskCallbackRequest
from airflow.callbacks.database_callback_sink import DatabaseCallbackSink
from airflow.utils.state import TaskInstanceState

from sluice.airflow import triggerer_shortcuts
from sluice.airflow.node_trigger import CLASSPATH

pytestmark = pytest.mark.unit

OTHER = "airflow.providers.standard.triggers.temporal.DateTimeTrigger"


class DagBag:
    """Counts what the triggerer asks of it; offers no DAG."""

    def __init__(self) -> None:
        self.asked = 0

    def get_serialized_dag_model_for_run(self, *args: Any, **kwargs: Any) -> None:
        self.asked += 1

    def get_serialized_dag_model(self, *args: Any, **kwargs: Any) -> None:
        self.asked += 1


class Session:
    """What the callback sink adds to the metadata database."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, row: Any) -> None:
        self.added.append(row)


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
def triggerer(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = importlib.import_module("airflow.jobs.triggerer_job_runner")
    cls = module.TriggerRunnerSupervisor
    monkeypatch.setattr(cls, "_create_workload", vars(cls)["_create_workload"])
    monkeypatch.setattr(DatabaseCallbackSink, "send", vars(DatabaseCallbackSink)["send"])
    monkeypatch.setattr(triggerer_shortcuts, "_started", set())
    assert triggerer_shortcuts.install(), "Airflow's triggerer no longer has the shape sluice relies on"
    supervisor = SimpleNamespace(job=SimpleNamespace(id=1), logger_cache={})

    def start(trigger: SimpleNamespace, bag: DagBag) -> Any:
        return cls._create_workload(supervisor, trigger, bag, lambda ti: "log", None)

    return start


def _callback(workload: Any, state: TaskInstanceState) -> list[Any]:
    session = Session()
    request = TaskCallbackRequest(
        filepath="sluice_dags.py",
        bundle_name="dags-folder",
        bundle_version=None,
        ti=workload.ti,
        task_callback_type=state,
    )
    DatabaseCallbackSink().send(callback=request, session=session)
    return session.added


def test_a_sluice_task_starts_from_a_plain_workload(triggerer: Any) -> None:
    bag = DagBag()
    workload = triggerer(_trigger(CLASSPATH), bag)
    assert bag.asked == 0
    assert workload.dag_data is None
    assert (workload.ti.dag_id, workload.ti.run_id, workload.ti.try_number) == ("shop", "manual__1", 1)


def test_other_triggers_are_built_as_airflow_builds_them(triggerer: Any) -> None:
    bag = DagBag()
    triggerer(_trigger(OTHER), bag)
    assert bag.asked == 2


def test_a_sluice_tasks_success_callback_is_not_queued_its_failure_callback_is(triggerer: Any) -> None:
    assert _callback(triggerer(_trigger(CLASSPATH), DagBag()), TaskInstanceState.SUCCESS) == []
    assert len(_callback(triggerer(_trigger(CLASSPATH), DagBag()), TaskInstanceState.FAILED)) == 1
    assert len(_callback(triggerer(_trigger(OTHER), DagBag()), TaskInstanceState.SUCCESS)) == 1


def test_installing_twice_wraps_once(triggerer: Any) -> None:
    module = importlib.import_module("airflow.jobs.triggerer_job_runner")
    first = module.TriggerRunnerSupervisor._create_workload
    assert triggerer_shortcuts.install()
    assert module.TriggerRunnerSupervisor._create_workload is first


def test_the_plugin_installs_them_when_the_triggerer_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    import sluice_plugin

    module = importlib.import_module("airflow.jobs.triggerer_job_runner")
    cls = module.TriggerRunnerSupervisor
    monkeypatch.setattr(cls, "_create_workload", vars(cls)["_create_workload"])
    monkeypatch.setattr(DatabaseCallbackSink, "send", vars(DatabaseCallbackSink)["send"])
    (listener,) = sluice_plugin.SluicePlugin.listeners
    listener.on_starting(component=SimpleNamespace(job_type=None))
    assert getattr(cls._create_workload, "sluice_shortcut", False)


@pytest.fixture
def loops(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Airflow's triggerer module, restored after the test."""
    module = importlib.import_module("airflow.jobs.triggerer_job_runner")
    cls = module.TriggerRunnerSupervisor
    monkeypatch.setattr(module, "anyio", module.anyio)
    monkeypatch.setattr(cls, "_service_subprocess", cls._service_subprocess)
    monkeypatch.setattr(cls, "_create_workload", vars(cls)["_create_workload"])
    monkeypatch.setattr(DatabaseCallbackSink, "send", vars(DatabaseCallbackSink)["send"])
    return module


def _round_seconds(module: Any) -> tuple[float, float]:
    """How long the runner's and the supervisor's loops wait when nothing happens (Airflow's own
    waits, as its loops call them)."""

    async def runner_wait() -> None:
        with module.anyio.move_on_after(1):
            await module.anyio.Event().wait()

    start = time.monotonic()
    anyio.run(runner_wait)
    runner = time.monotonic() - start
    idle = SimpleNamespace(selector=selectors.DefaultSelector(), _check_subprocess_exit=lambda **kw: None)
    start = time.monotonic()
    module.TriggerRunnerSupervisor._service_subprocess(idle, 1)
    return runner, time.monotonic() - start


def test_the_loop_setting_shortens_both_triggerer_waits(loops: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert min(_round_seconds(loops)) >= 0.9
    monkeypatch.setenv("SLUICE_TRIGGERER_LOOP_SECONDS", "0.1")
    assert triggerer_shortcuts.install()
    assert max(_round_seconds(loops)) < 0.5
    assert loops.TriggerRunnerSupervisor._create_workload.sluice_shortcut


def test_a_bad_loop_setting_keeps_airflows_waits_and_the_other_shortcuts(
    loops: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLUICE_TRIGGERER_LOOP_SECONDS", "0")
    assert triggerer_shortcuts.install()
    assert "SLUICE_TRIGGERER_LOOP_SECONDS=0: give 0.05 to 1 seconds" in caplog.text
    assert loops.anyio is anyio
    assert loops.TriggerRunnerSupervisor._create_workload.sluice_shortcut
