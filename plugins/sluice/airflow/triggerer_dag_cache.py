"""One deserialized DAG per DAG version in the triggerer, instead of one per task.

Airflow 3.3's triggerer builds a task instance for every task that starts in the triggerer
(``start_from_trigger``, as sluice's model and test tasks do) by deserializing the whole DAG that
came with the trigger: ``TriggerRunner.create_runtime_ti`` calls ``DagSerialization.from_dict``
once per trigger, in the triggerer's one event loop. A DAG of n tasks then costs O(n) per task
and O(n²) per run: 25 ms a trigger at 212 tasks, about 0.3 s at 2,000, so a 1,000-model run
spent minutes of the triggerer's time deserializing the same DAG.

A DAG version never changes, so the triggerer process keeps the last few deserialized DAGs by
(dag_id, dag_version_id). Installed from sluice's trigger module, which only the triggerer's
runner imports with the triggerer loaded; nothing changes when Airflow's code no longer has the
shape this relies on (the unit test fails loudly on such an upgrade).
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)

_RUNNER_MODULE = "airflow.jobs.triggerer_job_runner"
#: a few versions: a deploy changes the DAG while runs of the old version still have triggers
MAX_DAGS = 4

_version: ContextVar[tuple[str, str] | None] = ContextVar("sluice_dag_version", default=None)
_dags: OrderedDict[tuple[str, str], Any] = OrderedDict()


def install() -> bool:
    """Cache DAG deserialization in this process's triggerer runner; False when not applicable."""
    runner = sys.modules.get(_RUNNER_MODULE)
    if runner is None:  # not the triggerer: importing it would cost a DAG parse ~0.3 s
        return False
    trigger_runner = getattr(runner, "TriggerRunner", None)
    serialization = getattr(runner, "DagSerialization", None)
    create = inspect.getattr_static(trigger_runner, "create_runtime_ti", None)
    if getattr(serialization, "sluice_cached", False):
        return True
    if (
        serialization is None
        or not isinstance(create, classmethod)
        or list(inspect.signature(create.__func__).parameters)[1:2] != ["task_instance"]
    ):
        log.warning("sluice: this Airflow's triggerer has another shape; DAGs are deserialized per task")
        return False
    original = create.__func__

    class CachedDagSerialization(serialization):  # type: ignore[misc,valid-type]
        sluice_cached = True

        @classmethod
        def from_dict(cls, serialized_obj: dict[str, Any]) -> Any:
            key = _version.get()
            if key is None:
                return super().from_dict(serialized_obj)
            dag = _dags.get(key)
            if dag is None:
                dag = _dags[key] = super().from_dict(serialized_obj)
                while len(_dags) > MAX_DAGS:
                    _dags.popitem(last=False)
            else:
                _dags.move_to_end(key)
            return dag

    def create_runtime_ti(cls: Any, task_instance: Any, *args: Any, **kwargs: Any) -> Any:
        version = getattr(task_instance, "dag_version_id", None)
        token = _version.set(None if version is None else (str(task_instance.dag_id), str(version)))
        try:
            return original(cls, task_instance, *args, **kwargs)
        finally:
            _version.reset(token)

    setattr(runner, "DagSerialization", CachedDagSerialization)  # noqa: B010 (a module, typed as one)
    trigger_runner.create_runtime_ti = classmethod(create_runtime_ti)  # type: ignore[union-attr]
    return True
