"""The one operator sluice adds: run a dbt command over a task's nodes."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from sluice.errors import SluiceError
from sluice.runtime.dbt import DbtCall, DbtProcess


class DbtNodeOperator(BaseOperator):
    """Runs one DbtCall (``dbt <command> --select <nodes>``), streaming dbt's output to the log.

    Built with :func:`dbt_task`. It has no ``__init__`` of its own on purpose: every operator
    subclass level repeats Airflow's default-argument merging, which is most of the cost of
    building a DAG of 10,000 tasks.
    """

    ui_color = "#ff9a6c"
    call: DbtCall | None = None
    _process: DbtProcess | None = None

    def execute(self, context: Any) -> None:
        if self.call is None:
            raise SluiceError(f"{self.task_id}: no dbt call; build this operator with dbt_task()")
        self._process = DbtProcess(self.call)
        self._process.run(self.log.info)

    def on_kill(self) -> None:
        if self._process is not None:
            self._process.kill()


def dbt_task(call: DbtCall, **kwargs: Any) -> DbtNodeOperator:
    """A DbtNodeOperator for ``call``; other keyword arguments go to BaseOperator."""
    op = DbtNodeOperator(**kwargs)
    op.call = call
    return op
