"""One settings object: one precedence rule (spec < environments override < variable < flag),
read once per process, bad values said in one line naming the variable, every variable in the
README."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import sluice.settings
from sluice.cli import main
from sluice.errors import SluiceError
from sluice.runtime.dbt import dbt_execution, dbt_target
from sluice.runtime.lease import wait_limit
from sluice.settings import VARIABLES, Settings, reset, settings
from sluice.spec.reader import load_spec
from tests.conftest import DEMO_MANIFEST, REPO

SPEC = """\
pipeline: p
dbt: {{project_dir: {project}, target: local}}
ingest: {{connections: [payments_raw], airbyte_config: {airbyte}, airbyte_conn_id: spec_conn}}
unassigned: warn
zones:
  - {{name: bronze, select: ['path:models/bronze']}}
  - {{name: rest, select: ['path:models']}}
environments:
  dev:
    dbt: {{target: dev_target}}
    ingest: {{airbyte_conn_id: dev_conn}}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "pipelines" / "p.yml"
    path.parent.mkdir()
    path.write_text(SPEC.format(project=DEMO_MANIFEST.parents[1], airbyte=REPO / "airbyte_config"))
    return path


@pytest.mark.parametrize(
    ("variable", "resolve", "spec_value", "dev_value"),
    [
        ("SLUICE_DBT_TARGET", lambda sf: dbt_target(sf.spec.dbt.target), "local", "dev_target"),
        (
            "SLUICE_AIRBYTE_CONN_ID",
            lambda sf: settings().airbyte_conn_id(sf.spec.ingest.airbyte_conn_id),
            "spec_conn",
            "dev_conn",
        ),
    ],
)
def test_one_precedence_rule_spec_then_environments_override_then_variable(
    spec: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    resolve: object,
    spec_value: str,
    dev_value: str,
) -> None:
    assert callable(resolve)
    for var in ("SLUICE_DBT_TARGET", "SLUICE_AIRBYTE_CONN_ID", "AIRBYTE_URL"):
        monkeypatch.delenv(var, raising=False)
    assert resolve(load_spec(spec, "local")) == spec_value
    assert resolve(load_spec(spec, "dev")) == dev_value
    monkeypatch.setenv(variable, "from_variable")
    assert resolve(load_spec(spec, "local")) == "from_variable"
    assert resolve(load_spec(spec, "dev")) == "from_variable"


def test_an_airbyte_url_in_the_environment_beats_the_specs_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """None: the sync signs in with the AIRBYTE_* variables, not the spec's Airflow connection."""
    monkeypatch.delenv("SLUICE_AIRBYTE_CONN_ID", raising=False)
    monkeypatch.setenv("AIRBYTE_URL", "http://airbyte.internal:8000")
    assert settings().airbyte_conn_id("spec_conn") is None
    assert settings().airbyte_mode("spec_conn") == "server"


def test_a_process_reads_its_settings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sluice.settings, "_READ_ONCE", True)
    monkeypatch.setenv("SLUICE_DBT_TARGET", "first")
    reset()
    assert dbt_target("spec") == "first"
    monkeypatch.setenv("SLUICE_DBT_TARGET", "second")
    assert dbt_target("spec") == "first", "a task sees one consistent set of settings"
    reset()
    assert dbt_target("spec") == "second"
    reset()


def test_the_specs_folder_is_read_when_a_command_runs_not_when_sluice_is_imported(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLUICE_SPECS_DIR", str(spec.parent))
    assert main(["plan", "p", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pipeline"] == "p"


def test_env_flag_is_passed_down_not_written_to_the_environment(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--env dev`` plans with dev's overrides and leaves SLUICE_ENV alone (dbt and any child
    process see the environment they were given)."""
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    monkeypatch.setenv("SLUICE_SPECS_DIR", str(spec.parent))
    spec.write_text(
        spec.read_text().replace(
            "    dbt: {target: dev_target}", "    dbt: {target: dev_target}\n    tests: none"
        )
    )
    assert main(["plan", "p", "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(["--env", "dev", "plan", "p", "--json"]) == 0
    dev = json.loads(capsys.readouterr().out)
    assert {t["kind"] for t in local["tasks"]} >= {"test"}
    assert "test" not in {t["kind"] for t in dev["tasks"]}, "dev's override applied"
    assert "SLUICE_ENV" not in os.environ


@pytest.mark.parametrize(
    ("variable", "value", "read", "message"),
    [
        (
            "SLUICE_DBT_EXECUTION",
            "fast",
            lambda: dbt_execution("worker"),
            "SLUICE_DBT_EXECUTION='fast': use one of worker, subprocess",
        ),
        (
            "SLUICE_ZONE_LEASE_WAIT",
            "half an hour",
            wait_limit,
            "SLUICE_ZONE_LEASE_WAIT='half an hour': give a number, 0 or more",
        ),
        (
            "SLUICE_DBT_WORKER_IDLE",
            "-5",
            lambda: settings().dbt_worker_idle_s,
            "SLUICE_DBT_WORKER_IDLE='-5': give a number, 0 or more",
        ),
        (
            "SLUICE_AIRBYTE_MODE",
            "cloud",
            lambda: settings().airbyte_mode(None),
            "SLUICE_AIRBYTE_MODE='cloud': use server or local",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, read: object, message: str
) -> None:
    assert callable(read)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SluiceError) as caught:
        read()
    assert str(caught.value) == message


def test_a_bad_sluice_env_is_one_line_from_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLUICE_ENV", "staging")
    assert main(["validate"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "SLUICE_ENV='staging' is not an environment; use one of local, dev, prod"


def test_the_readme_lists_every_variable_with_its_default_and_spec_key() -> None:
    readme = (REPO / "README.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([A-Z_]+)` \|.*$", readme, re.MULTILINE)}
    assert sorted(rows) == sorted(v.name for v in VARIABLES)
    for v in VARIABLES:
        assert v.default in rows[v.name] and v.overrides in rows[v.name], rows[v.name]


def test_secrets_stay_out_of_the_settings_repr() -> None:
    read = Settings.from_env({"AIRBYTE_URL": "http://a", "AIRBYTE_CLIENT_SECRET": "very-secret-value"})
    assert "very-secret-value" not in repr(read)
    assert read.airbyte_server == {"AIRBYTE_URL": "http://a", "AIRBYTE_CLIENT_SECRET": "very-secret-value"}
