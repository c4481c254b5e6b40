"""Two shortcuts in Airflow 3.3's triggerer for sluice's model and test tasks, which start and end
there (``start_from_trigger``). Without them the triggerer's cost per task grows with the DAG,
so a run's cost grows with the square of its task count.

1. For a task that starts in the triggerer, Airflow deserializes the task's whole DAG to find
   the task, sends the DAG to its trigger runner with the trigger, and the runner deserializes it
   again to build a task instance. At 1,000 models (2,057 tasks) that is ~0.2 s twice per task
   plus 1.8 MB through a socket. sluice's trigger reads only the task instance's dag_id, run_id
   and try_number, which the plain workload Airflow builds for any deferred task carries; so for
   sluice's triggers the triggerer is given no DAG to look up.
2. For every task a trigger ends, Airflow queues a success callback for the DAG processor, which
   parses the task's DAG file again to run it: a parse of the whole DAG file per few tasks, all
   through the run. sluice's model and test tasks have no success callback (alerts are failure
   callbacks and the DAG's own success callback), so their success callbacks are not queued.
   Failure and retry callbacks are queued as always.
3. With SLUICE_TRIGGERER_LOOP_SECONDS set, the triggerer's two loops wait that long between
   rounds instead of Airflow's fixed 1 s: the supervisor's, which picks up new deferred tasks,
   and its runner's, which starts them and reports what they fired. A model task waits for both
   after its upstream task ends, so each level of a dbt graph costs up to 3 s at 1 s; a shorter
   round costs a few more metadata queries a second. It applies to every trigger of the
   triggerer, which is why it is a setting and Airflow's 1 s the default.

Installed in the triggerer by sluice's Airflow plugin (plugins/sluice_plugin.py). When Airflow's
code no longer has the shape this relies on, nothing is changed and a warning is logged; every
task still runs, at the old cost.
"""

from __future__ import annotations

import inspect
import logging
from types import ModuleType
from typing import Any

from sluice.airflow.node_trigger import CLASSPATH
from sluice.errors import SluiceError
from sluice.settings import settings

log = logging.getLogger(__name__)

#: task instances (ids) that sluice's triggers started and will end, until their callback is seen
_started: set[str] = set()
#: a bound on that set, should callbacks of some started tasks never come (cleared tasks)
_MAX_STARTED = 100_000


class _NoDag:
    """The DAG bag a sluice trigger's workload is built with: it has no DAG to offer."""

    def get_serialized_dag_model_for_run(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get_serialized_dag_model(self, *args: Any, **kwargs: Any) -> None:
        return None


class _ShortWaits(ModuleType):
    """anyio as the trigger runner's loop sees it: its wait between rounds is capped."""

    def __init__(self, anyio: ModuleType, seconds: float) -> None:
        super().__init__(anyio.__name__)
        self._anyio, self._seconds = anyio, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._anyio, name)

    def move_on_after(self, delay: float, shield: bool = False) -> Any:
        return self._anyio.move_on_after(min(delay, self._seconds), shield=shield)


def shorten_loops(seconds: float) -> bool:
    """Cap both triggerer loops' waits at ``seconds``; False when Airflow's code has another shape
    (the runner waits with ``anyio.move_on_after``, the supervisor with ``_service_subprocess``)."""
    import anyio
    from airflow.jobs import triggerer_job_runner as module

    supervisor, runner_globals = module.TriggerRunnerSupervisor, vars(module)
    service: Any = getattr(supervisor, "_service_subprocess", None)
    if getattr(service, "sluice_shortcut", False):
        return True
    if runner_globals.get("anyio") is not anyio or _parameters(service)[:2] != ["self", "max_wait_time"]:
        log.warning("sluice: this Airflow's triggerer loops have another shape; their waits stay as they are")
        return False

    def _service_subprocess(self: Any, max_wait_time: float, *args: Any, **kwargs: Any) -> Any:
        return service(self, min(max_wait_time, seconds), *args, **kwargs)

    _service_subprocess.sluice_shortcut = True  # type: ignore[attr-defined]
    supervisor._service_subprocess = _service_subprocess  # type: ignore[method-assign]
    # the runner is forked from this process after the triggerer starts, so it inherits this
    runner_globals["anyio"] = _ShortWaits(anyio, seconds)
    return True


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters) if callable(function) else []


def install() -> bool:
    """Install the shortcuts in this process; False when Airflow's code has another shape."""
    installed = _plain_workloads()
    try:
        loop = settings().triggerer_loop_s
    except SluiceError as exc:
        log.error("sluice: %s; the triggerer keeps Airflow's 1 s loops", exc)
        return installed
    return (loop is None or shorten_loops(loop)) and installed


def _plain_workloads() -> bool:
    """Shortcuts 1 and 2."""
    from airflow.callbacks.database_callback_sink import DatabaseCallbackSink
    from airflow.jobs.triggerer_job_runner import TriggerRunnerSupervisor
    from airflow.utils.state import TaskInstanceState

    create = inspect.getattr_static(TriggerRunnerSupervisor, "_create_workload", None)
    send = inspect.getattr_static(DatabaseCallbackSink, "send", None)
    if getattr(create, "sluice_shortcut", False):
        return True
    if _parameters(create) != ["self", "trigger", "dag_bag", "render_log_fname", "session"] or _parameters(
        send
    ) != ["self", "callback", "session"]:
        log.warning("sluice: this Airflow's triggerer has another shape; its shortcuts are not installed")
        return False

    def _create_workload(self: Any, trigger: Any, dag_bag: Any, render_log_fname: Any, session: Any) -> Any:
        if trigger.classpath == CLASSPATH and trigger.task_instance is not None:
            if len(_started) >= _MAX_STARTED:
                _started.clear()
            _started.add(str(trigger.task_instance.id))
            dag_bag = _NoDag()
        return create(self, trigger, dag_bag, render_log_fname, session)

    def _send(self: Any, callback: Any, **kwargs: Any) -> None:
        ti_id = str(getattr(getattr(callback, "ti", None), "id", ""))
        if ti_id in _started:
            _started.discard(ti_id)
            if getattr(callback, "task_callback_type", None) == TaskInstanceState.SUCCESS:
                return
        send(self, callback, **kwargs)

    _create_workload.sluice_shortcut = True  # type: ignore[attr-defined]
    TriggerRunnerSupervisor._create_workload = _create_workload  # type: ignore[method-assign]
    DatabaseCallbackSink.send = _send  # type: ignore[method-assign]
    return True
