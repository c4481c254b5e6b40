"""Run one dbt command for one task: configurable executable, target from the environment,
DuckDB writes serialised, dbt's own output streamed to the task log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import yaml

from sluice.errors import DbtCommandError, SluiceError
from sluice.runtime.locks import exclusive

EXECUTABLE_VAR = "SLUICE_DBT_EXECUTABLE"
TARGET_VAR = "SLUICE_DBT_TARGET"
_SUMMARY_MARK = "Completed with"
_ERROR_WORDS = ("Error", "ERROR", "FAIL", "Failure")


def dbt_executable(configured: str | None = None) -> str:
    """$SLUICE_DBT_EXECUTABLE, else the spec's setting, else dbt beside this Python, else PATH."""
    chosen = os.environ.get(EXECUTABLE_VAR) or configured
    if chosen:
        return chosen
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_target(configured: str) -> str:
    """$SLUICE_DBT_TARGET wins over the spec, so one DAG file serves every environment."""
    return os.environ.get(TARGET_VAR) or configured


def adapter_type(project_dir: Path, profiles_dir: Path, target: str) -> str | None:
    """The ``type`` of the target's output in profiles.yml, or None when it cannot be told."""
    try:
        project = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
        profiles = yaml.safe_load((profiles_dir / "profiles.yml").read_text(encoding="utf-8"))
        output = profiles[project["profile"]]["outputs"][target]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    kind = output.get("type") if isinstance(output, dict) else None
    return kind if isinstance(kind, str) else None


@dataclass(frozen=True)
class DbtCall:
    """One dbt command over an explicit list of nodes."""

    command: str
    select: tuple[str, ...]
    project_dir: Path
    profiles_dir: Path
    target: str
    executable: str | None = None

    def argv(self, target_path: Path) -> list[str]:
        return [
            dbt_executable(self.executable),
            "--no-use-colors",
            self.command,
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.profiles_dir),
            "--target",
            dbt_target(self.target),
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path),
            "--select",
            *self.select,
        ]

    def lock_path(self) -> Path | None:
        target = dbt_target(self.target)
        if adapter_type(self.project_dir, self.profiles_dir, target) != "duckdb":
            return None
        return self.project_dir / "target" / f".sluice-{target}.lock"


@contextmanager
def _scratch_target(project_dir: Path) -> Iterator[Path]:
    """A private target dir per call, so parallel dbt processes never share artifacts;
    seeded with the partial-parse file so dbt does not re-parse the whole project."""
    with tempfile.TemporaryDirectory(prefix="sluice-dbt-") as tmp:
        partial = project_dir / "target" / "partial_parse.msgpack"
        if partial.exists():
            shutil.copy2(partial, Path(tmp) / partial.name)
        yield Path(tmp)


def error_lines(lines: Sequence[str]) -> list[str]:
    """dbt's own account of what failed: its closing summary, else the lines that say error."""
    for i, line in enumerate(lines):
        if _SUMMARY_MARK in line:
            return [s.strip() for s in lines[i:] if s.strip()]
    flagged = [s.strip() for s in lines if any(w in s for w in _ERROR_WORDS)]
    return flagged or [s.strip() for s in lines[-10:] if s.strip()]


class DbtProcess:
    """A running dbt call that can be killed from another thread (Airflow's on_kill)."""

    def __init__(self, call: DbtCall) -> None:
        self.call = call
        self.proc: subprocess.Popen[str] | None = None

    def run(self, log: Callable[[str], None]) -> list[str]:
        """Run to completion, streaming each output line to ``log``; raise DbtCommandError."""
        call = self.call
        env = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "False", **os.environ}
        lock = call.lock_path()
        lines: list[str] = []
        with exclusive(lock, log) if lock else nullcontext(), _scratch_target(call.project_dir) as tmp:
            argv = call.argv(tmp)
            log("$ " + " ".join(argv))
            try:
                self.proc = subprocess.Popen(
                    argv,
                    cwd=call.project_dir,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    bufsize=1,
                )
            except FileNotFoundError:
                raise SluiceError(
                    f"dbt executable '{argv[0]}' not found; set {EXECUTABLE_VAR} or dbt.executable"
                ) from None
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.rstrip("\n")
                lines.append(line)
                log(line)
            code = self.proc.wait()
        if code != 0:
            details = "\n".join(error_lines(lines))
            raise DbtCommandError(f"dbt {call.command} exited {code} for {' '.join(call.select)}:\n{details}")
        return lines

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
