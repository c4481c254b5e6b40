"""sluice's Airflow plugin, loaded by each Airflow component. In the triggerer it lets sluice's
model and test tasks start without a copy of their DAG and queue no success callback
(sluice.airflow.triggerer_shortcuts); in the scheduler it skips the search for setup tasks in
DAGs that have none (sluice.airflow.scheduler_shortcuts). Elsewhere it does nothing."""

from __future__ import annotations

import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

_TRIGGERER = "airflow.jobs.triggerer_job_runner"
_SCHEDULER = "airflow.jobs.scheduler_job_runner"


class _JobStart:
    @hookimpl
    def on_starting(self, component: Any) -> None:
        # a Job announces itself before it knows its type; the component's command has imported
        # its job runner by then
        if _TRIGGERER in sys.modules:
            from sluice.airflow import triggerer_shortcuts

            triggerer_shortcuts.install()
        if _SCHEDULER in sys.modules:
            from sluice.airflow import scheduler_shortcuts

            scheduler_shortcuts.install()


class SluicePlugin(AirflowPlugin):
    name = "sluice"
    listeners = [_JobStart()]
