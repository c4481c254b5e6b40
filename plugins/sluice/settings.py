"""Every environment variable sluice reads, read once per process into one frozen object.

One precedence rule for every setting, lowest first:

1. the spec's value (or the built-in default when the spec does not set it),
2. the spec's ``environments.<env>`` override (merged by sluice.spec.reader),
3. the environment variable,
4. a command-line flag of the running command (``--env``, ``--specs``, ``--dir``).

So one DAG file serves every environment: the deployment's variables decide at run time. The
object is made on first use, not when a DAG file is imported, and is only read afterwards;
values are checked when used, so a bad value is one line naming the variable, said by the task
or command that needs it and breaking nothing else. The warm dbt worker (in dbt's virtualenv)
reads none of them: it gets what it needs on its command line. The README's table of variables
is checked against :data:`VARIABLES`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from sluice.errors import AirbyteError, SluiceError

if TYPE_CHECKING:
    from sluice.spec.models import ExecutionMode

AirbyteMode = Literal["server", "local"]
DEFAULT_AIRBYTE_CONFIG_DIR = "airbyte_config"


@dataclass(frozen=True)
class Variable:
    """One environment variable: what it sets, its default, and the spec key it overrides."""

    name: str
    sets: str
    default: str
    overrides: str = "—"


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "SLUICE_ENV", "environment whose `environments.<env>` overrides apply (`--env` beats it)", "local"
    ),
    Variable("SLUICE_SPECS_DIR", "folder of specs the commands read when given none", "dags/pipelines"),
    Variable(
        "SLUICE_PLAN_DIR", "folder of compiled plans and DAG verdicts", "target/sluice in the dbt project"
    ),
    Variable("SLUICE_DBT_TARGET", "dbt target of every dbt task", "the spec's", "dbt.target"),
    Variable(
        "SLUICE_DBT_EXECUTABLE",
        "dbt executable (the warm worker runs the Python beside it)",
        "the spec's, else dbt beside Python, else dbt on PATH",
        "dbt.executable",
    ),
    Variable("SLUICE_DBT_EXECUTION", "`worker` or `subprocess`", "the spec's (worker)", "dbt.execution"),
    Variable("SLUICE_DBT_WORKER_IDLE", "seconds a warm dbt worker waits idle before it exits", "600"),
    Variable(
        "SLUICE_DUCKDB_PATH",
        "DuckDB file a local Airbyte sync writes (dbt/profiles.yml's `local` target reads it too)",
        "none: a local sync needs it",
    ),
    Variable(
        "SLUICE_FAKER_PYTHON",
        "Python of the local connector's virtualenv",
        "none: a local sync needs it (make: .venv-faker)",
    ),
    Variable(
        "SLUICE_AIRBYTE_MODE",
        "`server` or `local`: where sync tasks run",
        "server when a server is configured, else local",
    ),
    Variable(
        "SLUICE_AIRBYTE_CONN_ID",
        "Airflow connection of the Airbyte server",
        "the spec's",
        "ingest.airbyte_conn_id",
    ),
    Variable(
        "AIRBYTE_URL",
        "Airbyte server URL, when SLUICE_AIRBYTE_CONN_ID is not set",
        "the spec's connection, else none",
        "ingest.airbyte_conn_id",
    ),
    Variable("AIRBYTE_CLIENT_ID", "client id for AIRBYTE_URL (with AIRBYTE_CLIENT_SECRET)", "none"),
    Variable("AIRBYTE_CLIENT_SECRET", "client secret for AIRBYTE_URL", "none"),
    Variable(
        "AIRBYTE_TOKEN_URL",
        "token URL for the client credentials",
        "AIRBYTE_URL + /api/v1/applications/token",
    ),
    Variable("AIRBYTE_USERNAME", "basic-auth user for AIRBYTE_URL (with AIRBYTE_PASSWORD)", "none"),
    Variable("AIRBYTE_PASSWORD", "basic-auth password for AIRBYTE_URL", "none"),
    Variable("AIRBYTE_WORKSPACE_ID", "Airbyte workspace", "the server's only one"),
    Variable(
        "SLUICE_AIRBYTE_CONFIG_DIR",
        "Airbyte YAML folder of `sluice airbyte` (`--dir` beats it) and of an operator given none",
        "airbyte_config",
    ),
    Variable(
        "SLUICE_AIRBYTE_STATE_DIR",
        "where `sluice airbyte apply` keeps ids and hashes",
        "state in the config folder",
    ),
    Variable("SLUICE_AIRBYTE_LOCAL_STATE_DIR", "local sync state", "airbyte_state beside SLUICE_DUCKDB_PATH"),
    Variable(
        "SLUICE_TRIGGERER_LOOP_SECONDS",
        "seconds each of the Airflow triggerer's loops waits between rounds (0.05 to 1)",
        "Airflow's 1",
    ),
    Variable("SLUICE_ZONE_LEASE_WAIT", "seconds a stage task waits for another run's zone lease", "1800"),
    Variable("SLUICE_ZONE_LEASE_MAX_AGE", "hours after which any zone lease may be taken over", "24"),
)
NAMES = frozenset(v.name for v in VARIABLES)


@dataclass(frozen=True)
class Settings:
    """The values of :data:`VARIABLES` in one process's environment (unset and empty alike)."""

    values: Mapping[str, str] = field(repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls({name: environ[name] for name in NAMES if environ.get(name)})

    def get(self, name: str) -> str | None:
        if name not in NAMES:
            raise KeyError(f"{name} is not a sluice setting")  # a typo here is a bug, not bad input
        return self.values.get(name)

    def override(self, spec_value: str, name: str) -> str:
        """The one precedence rule: the variable, when set, beats the (merged) spec's value."""
        return self.get(name) or spec_value

    def _number(self, name: str, default: float) -> float:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value < float("inf"):
            raise SluiceError(f"{name}={raw!r}: give a number, 0 or more")
        return value

    def _path(self, name: str) -> Path | None:
        raw = self.get(name)
        return Path(raw).expanduser() if raw else None

    # --- specs and plans ---------------------------------------------------------------------

    def environment(self, flag: str | None = None) -> str:
        """``--env``, else $SLUICE_ENV, else local (sluice.spec.reader checks the name)."""
        return flag or self.get("SLUICE_ENV") or "local"

    @property
    def specs_dir(self) -> str:
        return self.get("SLUICE_SPECS_DIR") or "dags/pipelines"

    @property
    def plan_dir(self) -> Path | None:
        return self._path("SLUICE_PLAN_DIR")

    # --- dbt -----------------------------------------------------------------------------------

    def dbt_target(self, spec_value: str) -> str:
        return self.override(spec_value, "SLUICE_DBT_TARGET")

    def dbt_executable(self, spec_value: str | None) -> str | None:
        return self.get("SLUICE_DBT_EXECUTABLE") or spec_value

    def dbt_execution(self, spec_value: str) -> ExecutionMode:
        from sluice.spec.models import ExecutionMode  # sluice.spec reads its settings from here

        chosen = self.override(spec_value, "SLUICE_DBT_EXECUTION")
        try:
            return ExecutionMode(chosen)
        except ValueError:
            raise SluiceError(
                f"SLUICE_DBT_EXECUTION={chosen!r}: use one of {', '.join(ExecutionMode)}"
            ) from None

    @property
    def dbt_worker_idle_s(self) -> float:
        return self._number("SLUICE_DBT_WORKER_IDLE", 600.0)

    # --- DuckDB and the local Airbyte sync -----------------------------------------------------

    @property
    def duckdb_path(self) -> Path | None:
        return self._path("SLUICE_DUCKDB_PATH")

    @property
    def faker_python(self) -> Path | None:
        return self._path("SLUICE_FAKER_PYTHON")

    @property
    def airbyte_local_state_dir(self) -> Path | None:
        return self._path("SLUICE_AIRBYTE_LOCAL_STATE_DIR")

    # --- Airbyte server ------------------------------------------------------------------------

    def airbyte_conn_id(self, spec_value: str | None) -> str | None:
        """The Airflow connection a sync uses, None for the AIRBYTE_* variables (or none at all):
        a server named in the environment, by connection or by URL, beats the spec's connection."""
        if self.get("SLUICE_AIRBYTE_CONN_ID"):
            return self.get("SLUICE_AIRBYTE_CONN_ID")
        return None if self.get("AIRBYTE_URL") else spec_value

    def airbyte_mode(self, spec_conn_id: str | None) -> AirbyteMode:
        chosen = self.get("SLUICE_AIRBYTE_MODE")
        if chosen:
            if chosen not in ("server", "local"):
                raise AirbyteError(f"SLUICE_AIRBYTE_MODE={chosen!r}: use server or local")
            return cast(AirbyteMode, chosen)
        return "server" if self.airbyte_conn_id(spec_conn_id) or self.get("AIRBYTE_URL") else "local"

    @property
    def airbyte_server(self) -> dict[str, str]:
        """The AIRBYTE_* variables that are set (secrets among them: never log this)."""
        return {k: v for k, v in self.values.items() if k.startswith("AIRBYTE_")}

    def airbyte_config_dir(self, flag: str | Path | None = None) -> Path:
        return Path(flag or self.get("SLUICE_AIRBYTE_CONFIG_DIR") or DEFAULT_AIRBYTE_CONFIG_DIR)

    @property
    def airbyte_state_dir(self) -> Path | None:
        return self._path("SLUICE_AIRBYTE_STATE_DIR")

    @property
    def triggerer_loop_s(self) -> float | None:
        if self.get("SLUICE_TRIGGERER_LOOP_SECONDS") is None:
            return None
        seconds = self._number("SLUICE_TRIGGERER_LOOP_SECONDS", 1.0)
        if not 0.05 <= seconds <= 1:
            raise SluiceError(f"SLUICE_TRIGGERER_LOOP_SECONDS={seconds:g}: give 0.05 to 1 seconds")
        return seconds

    # --- zone leases ---------------------------------------------------------------------------

    @property
    def zone_lease_wait_s(self) -> float:
        return self._number("SLUICE_ZONE_LEASE_WAIT", 1800.0)

    @property
    def zone_lease_max_age_h(self) -> float:
        return self._number("SLUICE_ZONE_LEASE_MAX_AGE", 24.0)


_current: Settings | None = None
#: tests turn this off so that ``monkeypatch.setenv`` takes effect; a process reads once
_READ_ONCE = True


def settings() -> Settings:
    """This process's settings, read from the environment on first use."""
    global _current
    if _current is None or not _READ_ONCE:
        _current = Settings.from_env(os.environ)
    return _current


def reset() -> None:
    """Read the environment again on next use (a test, or a process that changed it on purpose)."""
    global _current
    _current = None
