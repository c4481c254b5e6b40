"""The one operator sluice adds: run a dbt command over a task's nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from sluice.runtime.dbt import DbtCall, DbtProcess


class DbtNodeOperator(BaseOperator):
    """Runs ``dbt <command> --select <nodes>`` and streams dbt's output into the task log."""

    ui_color = "#ff9a6c"

    def __init__(
        self,
        *,
        dbt_command: str,
        select: tuple[str, ...],
        project_dir: str,
        profiles_dir: str,
        target: str,
        executable: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dbt_command = dbt_command
        self.select = select
        self.project_dir = project_dir
        self.profiles_dir = profiles_dir
        self.target = target
        self.executable = executable
        self._process: DbtProcess | None = None

    def execute(self, context: Any) -> None:
        call = DbtCall(
            command=self.dbt_command,
            select=tuple(self.select),
            project_dir=Path(self.project_dir),
            profiles_dir=Path(self.profiles_dir),
            target=self.target,
            executable=self.executable,
        )
        self._process = DbtProcess(call)
        self._process.run(self.log.info)

    def on_kill(self) -> None:
        if self._process is not None:
            self._process.kill()
