"""sluice's Airflow plugin, loaded by each Airflow component: in the triggerer it lets sluice's
model and test tasks start without a copy of their DAG (sluice.airflow.triggerer_shortcuts says
why); elsewhere it does nothing."""

from __future__ import annotations

import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

_TRIGGERER = "airflow.jobs.triggerer_job_runner"


class _TriggererStart:
    @hookimpl
    def on_starting(self, component: Any) -> None:
        # a Job announces itself before it knows its type; the triggerer's command has its runner
        # imported by then, and no other component uses what install() changes
        if _TRIGGERER in sys.modules:
            from sluice.airflow.triggerer_shortcuts import install

            install()


class SluicePlugin(AirflowPlugin):
    name = "sluice"
    listeners = [_TriggererStart()]
