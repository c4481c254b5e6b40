"""`sluice import-dbt-airflow-factory`: a factory configuration folder (as its documentation
writes them, tests/data/dbt_airflow_factory) becomes a spec that validates, and what has no
equivalent is listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sluice.cli import main
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import TaskKind
from sluice.spec.reader import load_spec
from tests.conftest import REPO, line_of
from tests.unit.manifests import m, manifest, node

DATA = REPO / "tests" / "data" / "dbt_airflow_factory"
NOT_A_CONFIG = "no config/base folder and no airflow.yml"


def run(tmp_path: Path, config: Path, *more: str) -> tuple[int, Path]:
    specs = tmp_path / "specs"
    args = ["import-dbt-airflow-factory", str(config), "--specs", str(specs)]
    args += ["--dbt-project", str(config), "--airbyte-config", str(DATA / "airbyte_config"), *more]
    return main(args), specs


def test_two_save_points_become_two_zones_with_one_gateway_between_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, specs = run(tmp_path, DATA / "datalab")
    out = capsys.readouterr()
    assert code == 0, out
    assert "1 spec(s) valid" in out.err
    sf = load_spec(specs / "datalab_daily.yml")
    spec = sf.spec
    assert [(z.name, z.select) for z in spec.zones] == [
        ("datalab_stg", ("config.schema:datalab_stg", "config.schema:raw")),
        ("datalab", ("config.schema:datalab", "config.schema:reporting")),
    ]
    plan = plan_spec(sf)
    zone_of = {t.node: t.zone for t in plan.tasks if t.node and t.kind in (TaskKind.RUN, TaskKind.SEED)}
    assert zone_of == {
        "seed.shop.country_codes": "datalab_stg",
        m("stg_orders"): "datalab_stg",
        m("stg_users"): "datalab_stg",
        m("orders"): "datalab",
        m("users"): "datalab",
        m("daily_revenue"): "datalab",
    }
    tasks = plan.by_id()
    assert "datalab_stg.gateway" in tasks["datalab.users_run"].upstream
    assert [t.id for t in plan.tasks if t.kind is TaskKind.INGEST] == [
        "ingest.postgres_ingestion",
        "ingest.mysql_ingestion",
    ]


def test_schedule_default_arguments_and_notifications_carry_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, specs = run(tmp_path, DATA / "datalab")
    assert code == 0, capsys.readouterr()
    spec = load_spec(specs / "datalab_daily.yml").spec
    assert (spec.pipeline, spec.owner, spec.schedule, str(spec.start_date), spec.catchup) == (
        "datalab_daily",
        "Data Lab",
        "0 12 * * *",
        "2021-10-20",
        False,
    )
    assert (spec.defaults.retries, spec.defaults.retry_delay_minutes) == (2, 5)
    assert spec.notify is not None and spec.notify.slack is not None
    assert spec.notify.slack.connection == "slack_failure"
    assert spec.notify.email == ("datalab-alerts@example.com",)
    assert spec.ingest is not None
    assert (spec.ingest.airbyte_conn_id, spec.ingest.timeout_minutes, spec.ingest.poll_seconds) == (
        "airbyte_connection_id",
        3,
        3,
    )
    assert spec.dbt.target == "local"


def test_what_has_no_equivalent_is_listed_in_the_spec_and_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, specs = run(tmp_path, DATA / "datalab")
    err = capsys.readouterr().err
    assert code == 0, err
    text = (specs / "datalab_daily.yml").read_text()
    for listed in (
        "airflow.yml: failure_handlers[1]: type teams",
        "airflow.yml: default_args.depends_on_past",
        "airflow.yml: dags_path",
        "dbt.yml: vars",
        "dbt.yml: profile_dir_path",
        "execution_env.yml: image, type",
        "k8s.yml: envs, image_pull_policy, is_delete_operator_pod, namespace",
        "airbyte.yml: tasks[].api_version",
    ):
        assert f"not carried over: {listed}" in err, listed
        assert f"#  - {listed}" in text, listed
    assert "airflow.yml: seed_task: seeds are nodes of the zones" in err
    assert "schema 'reporting' is no save point" in err
    for value in ("EXAMPLE_ENV", "123.gcr", "apache-airflow", "{{ ds }}"):
        assert value not in text, "a setting not carried over is named, its value left out"


def test_a_factory_environment_overlays_base_file_by_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, specs = run(tmp_path, DATA / "datalab", "--factory-env", "dev", "--name", "lab_dev")
    assert code == 0, capsys.readouterr()
    spec = load_spec(specs / "lab_dev.yml").spec
    assert (spec.pipeline, spec.dbt.target, spec.schedule) == ("lab_dev", "dev", "0 12 * * *")


def flat_factory(tmp_path: Path, save_points: list[str], tasks: str = "") -> Path:
    """A folder holding airflow.yml itself, and a manifest whose staging models configure schema
    ``stg`` and are built into ``analytics_stg`` (dbt's default generate_schema_name)."""
    folder = tmp_path / "factory"
    folder.mkdir()

    def built(kind: str, name: str, deps: tuple[str, ...], schema: str, configured: str | None) -> tuple:
        uid, raw = node(kind, name, deps, config={"schema": configured} if configured else {})
        return uid, {**raw, "schema": schema}

    raw = manifest(
        built("model", "stg_a", (), "analytics_stg", "stg"),
        built("model", "stg_b", (), "analytics_stg", "stg"),
        built("model", "mart", (m("stg_a"), m("stg_b")), "analytics", None),
    )
    (folder / "manifest.json").write_text(json.dumps(raw))
    points = "".join(f"\n  - {p}" for p in save_points)
    (folder / "airflow.yml").write_text(
        "default_args: {owner: lab, start_date: 2024-03-01, retries: 1, retry_delay: 00:02:30}\n"
        "dag: {dag_id: flat, schedule_interval: '@daily'}\n"
        f"manifest_file_name: manifest.json\nsave_points:{points}\n"
    )
    if tasks:
        (folder / "ingestion.yml").write_text("enable: true\nengine: airbyte\n")
        (folder / "airbyte.yml").write_text(f"airbyte_connection_id: ab\ntasks:\n{tasks}")
    return folder


def test_a_schema_config_that_is_not_the_built_schema_still_selects_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, specs = run(tmp_path, flat_factory(tmp_path, ["analytics_stg", "analytics"]))
    err = capsys.readouterr().err
    assert code == 0, err
    spec = load_spec(specs / "flat.yml").spec
    # stg is built as analytics_stg; analytics is the target's own schema, with no schema config
    assert [(z.name, z.select) for z in spec.zones] == [
        ("analytics_stg", ("config.schema:stg",)),
        ("analytics", ("fqn:shop.mart",)),
    ]
    assert "schema 'analytics': its 1 model(s) have no schema config" in err
    assert (spec.defaults.retries, spec.defaults.retry_delay_minutes, spec.schedule) == (1, 2.5, "@daily")


def test_an_airbyte_task_with_no_sluice_connection_is_named_and_fails_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = "  - {task_id: crm-sync, connection_id: 0e1c, wait_seconds: 5, timeout: 600}\n"
    code, specs = run(tmp_path, flat_factory(tmp_path, ["analytics_stg", "analytics"], tasks))
    out = capsys.readouterr()
    assert code == 1
    said = "airbyte.yml: tasks[0].connection_id: 0e1c: sluice syncs connections it describes by name"
    assert said in out.err
    path = specs / "flat.yml"
    text = path.read_text()
    line = f"{path}:{line_of(text, '- crm_sync')}: ingest.connections[0]: no Airbyte connection 'crm_sync'"
    assert out.out.startswith(line), out.out


def test_a_folder_that_is_no_factory_configuration_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-dbt-airflow-factory", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"{tmp_path}: not a dbt-airflow-factory configuration: " + NOT_A_CONFIG
    copy = tmp_path / "copy"
    shutil.copytree(DATA / "datalab", copy)
    broken = copy / "config" / "base" / "dbt.yml"
    broken.write_text("target: local\nvars: [unclosed\n")
    code, _ = run(tmp_path, copy)
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith(f"{broken}:") and "invalid YAML" in err and "\n" not in err, err
    assert main(["import-dbt-airflow-factory", str(copy), "--factory-env", "prod"]) == 1
    assert "no folder 'prod' (environments: base, dev)" in capsys.readouterr().err
