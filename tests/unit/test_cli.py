"""`sluice validate` and `sluice plan --json`: the contracts other tools call."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sluice.cli import main
from sluice.plan.folder import plan_folder
from tests.conftest import CORPUS_DIR, DEMO_SPEC, line_of


def test_validate_passes_on_the_demo_specs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEMO_SPEC.parent)]) == 0
    assert "1 spec(s) valid" in capsys.readouterr().err


def test_validate_prints_one_line_per_problem_and_exits_1(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = specs / "bad.yml"
    bad.write_text(
        (specs / "payments_daily.yml")
        .read_text()
        .replace("pipeline: payments_daily", "pipeline: other")
        .replace("path:models/gold]", "path:models/platinum]")
        .replace("retry_delay_minutes: 2", "retry_delay_minutes: -1")
    )
    assert main(["validate", str(specs)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    at = line_of(bad.read_text(), "retry_delay_minutes: -1")
    assert out == [f"{bad}:{at}: defaults.retry_delay_minutes: Input should be greater than 0"], out
    bad.write_text(bad.read_text().replace("retry_delay_minutes: -1", "retry_delay_minutes: 2"))
    assert main(["validate", str(specs)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    at = line_of(bad.read_text(), "path:models/platinum")
    assert out[0].startswith(
        f"{bad}:{at}: zones[2].select[0]: 'path:models/platinum' matches no selected dbt node"
    )


def test_validate_reports_zone_order_violations_at_the_zone(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (specs / "payments_daily.yml").read_text()
    # swap silver and gold selections: gold models now sit before the silver ones they read
    text = text.replace("[path:models/silver, path:snapshots]", "[path:models/GOLD]")
    text = text.replace("[path:models/gold]", "[path:models/silver, path:snapshots]")
    text = text.replace("[path:models/GOLD]", "[path:models/gold]")
    (specs / "payments_daily.yml").write_text(text)
    assert main(["validate", str(specs)]) == 1
    line = capsys.readouterr().out.strip()
    at = line_of(text, "[path:models/gold]")  # the second zone's selection, after the swap
    assert (
        f"{specs / 'payments_daily.yml'}:{at}: zones[1].select: "
        "a model may not depend on a model of a later zone" in line
    )
    assert (
        "model.payments.merchant_daily_volumes (silver) depends on model.payments.card_transactions (gold)"
        in line
    )


def test_a_copied_spec_never_takes_the_live_dag_over(specs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (specs / "payments_daily.yml").read_text()
    # sorts first, and would have won under a first-file-wins rule
    (specs / "a_new_team.yml").write_text(text.replace('schedule: "0 5 * * *"', 'schedule: "@hourly"'))
    assert main(["validate", str(specs)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"{specs / 'a_new_team.yml'}:2: pipeline: 'payments_daily' belongs to "
        f"{specs / 'payments_daily.yml'}:2, the file named after it; use another id"
    ]
    result = plan_folder([specs])
    assert [sf.path.name for sf, _ in result.plans] == ["payments_daily.yml"]
    assert [sf.spec.schedule for sf, _ in result.plans] == ["0 5 * * *"]


def test_a_copy_cannot_take_over_while_the_owning_file_is_broken(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = specs / "payments_daily.yml"
    (specs / "a_new_team.yml").write_text(owner.read_text())
    owner.write_text(owner.read_text().replace("zones:", "zonez:"))
    assert main(["validate", str(specs)]) == 1
    out = capsys.readouterr().out
    assert (
        f"{specs / 'a_new_team.yml'}:2: pipeline: 'payments_daily' belongs to "
        f"{specs / 'payments_daily.yml'}, the file named after it" in out
    )
    assert plan_folder([specs]).plans == []


def test_an_id_claimed_by_two_files_named_otherwise_loads_neither(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (specs / "payments_daily.yml").rename(specs / "payments.yml")
    shutil.copy(specs / "payments.yml", specs / "copy.yml")
    assert main(["validate", str(specs)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2, out
    assert out[0].startswith(f"{specs / 'copy.yml'}:2: pipeline: 'payments_daily' is also the id in ")
    assert f"{specs / 'payments.yml'}:2;" in out[0]
    assert out[1].startswith(f"{specs / 'payments.yml'}:2: pipeline: ")
    assert f"{specs / 'copy.yml'}:2;" in out[1]
    assert plan_folder([specs]).plans == []


def test_validate_warns_when_a_spec_is_not_named_after_its_id(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (specs / "payments_daily.yml").rename(specs / "payments.yml")
    assert main(["validate", str(specs)]) == 0
    assert (
        f"{specs / 'payments.yml'}:2: warning: name this file payments_daily.yml" in capsys.readouterr().out
    )


def test_plan_json_prints_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "payments_daily", "--json", "--specs", str(DEMO_SPEC.parent)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["pipeline"] == "payments_daily"
    kinds = {t["kind"] for t in doc["tasks"]}
    assert kinds == {
        "ingest",
        "freshness",
        "seed",
        "snapshot",
        "run",
        "test",
        "gateway",
        "stage",
        "publish",
        "build",
        "archive",
    }
    gold = next(t for t in doc["tasks"] if t["id"] == "gold.merchant_daily_volumes_run")
    assert {k: gold[k] for k in ("id", "kind", "zone", "node", "upstream")} == {
        "id": "gold.merchant_daily_volumes_run",
        "kind": "run",
        "zone": "gold",
        "node": "model.payments.merchant_daily_volumes",
        # gold publishes atomically: it builds in a fresh staging copy, after silver's tasks
        "upstream": ["gold.stage", "silver.gateway"],
    }
    # and what Airflow gets: the operator, and a dbt run into gold's staging copy
    assert gold["operator"] == "dbt"
    assert gold["arguments"]["command"] == "run"
    assert gold["arguments"]["vars"] == '{"sluice_staging": ["gold"]}'


def test_plan_json_shows_what_airflow_gets(capsys: pytest.CaptureFixture[str]) -> None:
    """A reviewer reads every decision in the plan: operator, arguments, trigger rule, outlets."""
    assert main(["plan", "payments_daily", "--json", "--specs", str(DEMO_SPEC.parent)]) == 0
    doc = json.loads(capsys.readouterr().out)
    tasks = {t["id"]: t for t in doc["tasks"]}
    publish = tasks["gold.publish"]
    assert publish["operator"] == "zone_step"
    assert publish["trigger_rule"] == "all_done_min_one_success"
    assert publish["arguments"]["step"] == "publish" and publish["arguments"]["schemas"] == ["gold"]
    assert publish["outlets"][0] == {
        "uri": "x-sluice://payments_daily/gold",
        "name": "x-sluice://payments_daily/gold",
    }
    assert {
        "uri": "x-sluice://payments_daily/gold/fraud_flags",
        "name": "x-sluice://payments_daily/gold/fraud_flags",
    } in (publish["outlets"])
    sync = tasks["ingest.payments_raw"]
    assert sync["operator"] == "airbyte_sync"
    assert sync["arguments"]["connection"] == "payments_raw"
    assert sync["arguments"]["config_dir"] == "../../airbyte_config"  # relative to the spec
    assert sync["arguments"]["poll_seconds"] == 5
    assert sync["arguments"]["warm_up"]["command"] == "run"
    assert tasks["bronze.gateway"]["operator"] == "empty"
    assert tasks["bronze.gateway"]["trigger_rule"] == "none_failed", "a run of a few models goes on past it"
    assert doc["selectable"]["names"]["stg_accounts"] == ["model.payments.stg_accounts"]
    assert tasks["bronze.stg_accounts_run"]["arguments"]["warm"] == ['{"sluice_staging": ["gold"]}']


def test_plan_with_another_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the demo spec over the jaffle_shop manifest: its selectors match nothing there
    code = main(["plan", str(DEMO_SPEC), "--json", "--manifest", str(CORPUS_DIR / "jaffle_shop_duckdb.json")])
    assert code == 1
    assert "matches no selected dbt node" in capsys.readouterr().err


def test_plan_unknown_pipeline_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "nope", "--specs", str(DEMO_SPEC.parent)]) == 1
    err = capsys.readouterr().err
    assert "no pipeline 'nope'" in err
    assert "(known: payments_daily)" in err


def test_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["--help"], ["validate", "--help"], ["plan", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            main(command)
        assert exit_.value.code == 0
    assert "--manifest" in capsys.readouterr().out
