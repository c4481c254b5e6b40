"""`schedule: {after: [pipeline.zone]}`: a pipeline runs when another's atomic zone publishes."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk import Asset

from sluice.airflow.checks import dag_arguments
from sluice.cli import main
from sluice.plan.folder import plan_folder
from tests.conftest import REPO, line_of

CONSUMER = f"""pipeline: finance_report
schedule: {{after: [payments_daily.gold]}}
dbt:
  project_dir: {REPO / "dbt"}
  select: [path:models/silver/customers.sql]
zones:
  - name: report
    select: [path:models/silver]
"""


def test_the_consumer_waits_on_the_very_asset_the_publish_announces(specs: Path) -> None:
    (specs / "finance_report.yml").write_text(CONSUMER)
    result = plan_folder([specs], every_environment=True)
    assert result.problems == []
    plans = {plan.pipeline: (sf, plan) for sf, plan in result.plans}
    sf, consumer = plans["finance_report"]
    schedule = dag_arguments(sf, consumer)["schedule"]
    publish = next(t for t in plans["payments_daily"][1].tasks if t.id == "gold.publish")
    announced = Asset(uri=publish.outlets[0].uri, name=publish.outlets[0].name)
    # the README's spelling for a DAG written by hand is the same asset, so Airflow accepts both
    assert schedule == [announced] == [Asset("x-sluice://payments_daily/gold")]
    assert consumer.dag.schedule is None


@pytest.mark.parametrize(
    ("after", "index", "why"),
    [
        ("nope.gold", 0, "no valid pipeline 'nope' among the specs (known: finance_report, payments_daily)"),
        (
            "payments_daily.platinum",
            0,
            "'payments_daily' has no zone 'platinum' (zones: bronze, silver, gold)",
        ),
        (
            "payments_daily.gold, payments_daily.silver",
            1,
            "payments_daily.silver is not published atomically, so nothing announces it: "
            "set publish: atomic on it",
        ),
        ("finance_report.report", 0, "a pipeline cannot wait on its own zones (it would trigger itself)"),
    ],
)
def test_validate_names_a_zone_that_would_never_trigger_the_pipeline(
    specs: Path, after: str, index: int, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = CONSUMER.replace("[payments_daily.gold]", f"[{after}]")
    (specs / "finance_report.yml").write_text(text)
    assert main(["validate", str(specs)]) == 1
    line = line_of(text, "schedule:")
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{specs}/finance_report.yml:{line}: schedule.after[{index}]: {why}"
    )


def test_a_zone_reference_must_be_pipeline_dot_zone(specs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (specs / "finance_report.yml").write_text(CONSUMER.replace("[payments_daily.gold]", "[gold]"))
    assert main(["validate", str(specs)]) == 1
    out = capsys.readouterr().out
    assert "schedule.after[0]: 'gold': name a zone as pipeline.zone, e.g. payments_daily.gold" in out


def test_an_environment_may_schedule_on_zones_where_the_pipeline_uses_cron(specs: Path) -> None:
    text = (specs / "payments_daily.yml").read_text()
    consumer = CONSUMER.replace("schedule: {after: [payments_daily.gold]}", 'schedule: "@daily"')
    consumer += "environments:\n  prod:\n    schedule: {after: [payments_daily.gold]}\n"
    (specs / "finance_report.yml").write_text(consumer)
    assert "environments:" in text
    local = plan_folder([specs], every_environment=True)
    assert local.problems == []
    prod = {p.pipeline: p for _, p in plan_folder([specs], environment="prod").plans}
    assert prod["finance_report"].dag.after == ("x-sluice://payments_daily/gold",)
    assert prod["finance_report"].dag.schedule is None
