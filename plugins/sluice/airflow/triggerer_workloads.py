"""sluice's tasks start in the triggerer without a copy of their DAG.

For a task that starts in the triggerer (``start_from_trigger``), Airflow 3.3's triggerer
deserializes the task's whole DAG to find the task, sends the DAG to its trigger runner with the
trigger, and the runner deserializes it again to build a task instance: O(n) per task of an
n-task DAG, O(n²) per run. At 1,000 models (2,057 tasks) that is ~0.2 s twice per task plus
1.8 MB through a socket, minutes of the triggerer's time per run. sluice's trigger needs none of
it: it reads only the task instance's dag_id, run_id and try_number, which the plain workload
carries. So for sluice's triggers the triggerer is given no DAG to look up, and builds the plain
workload Airflow builds for any deferred task.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from sluice.airflow.node_trigger import CLASSPATH

log = logging.getLogger(__name__)


class _NoDag:
    """The DAG bag a sluice trigger's workload is built with: it has no DAG to offer."""

    def get_serialized_dag_model_for_run(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get_serialized_dag_model(self, *args: Any, **kwargs: Any) -> None:
        return None


def install() -> bool:
    """Give sluice's triggers plain workloads in this triggerer; False when Airflow's triggerer
    no longer has the shape this relies on (every trigger then still works, at O(n) each)."""
    from airflow.jobs.triggerer_job_runner import TriggerRunnerSupervisor

    create = inspect.getattr_static(TriggerRunnerSupervisor, "_create_workload", None)
    if getattr(create, "sluice_plain", False):
        return True
    if not callable(create) or list(inspect.signature(create).parameters) != [
        "self",
        "trigger",
        "dag_bag",
        "render_log_fname",
        "session",
    ]:
        log.warning("sluice: this Airflow's triggerer has another shape; sluice's tasks start with their DAG")
        return False

    def _create_workload(self: Any, trigger: Any, dag_bag: Any, render_log_fname: Any, session: Any) -> Any:
        if trigger.classpath == CLASSPATH:
            dag_bag = _NoDag()
        return create(self, trigger, dag_bag, render_log_fname, session)

    _create_workload.sluice_plain = True  # type: ignore[attr-defined]
    TriggerRunnerSupervisor._create_workload = _create_workload  # type: ignore[method-assign]
    return True
