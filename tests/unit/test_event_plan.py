"""Event streams in a spec's ingest: a load task each before the first zone, an archival task
each after the last, and the DAG drawn with them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from airflow.serialization.serialized_objects import DagSerialization

from sluice.airflow.event_operators import EventStreamOperator
from sluice.airflow.render import render_dag
from sluice.cli import main
from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import ArchiveArgs, EventArgs, Operator, Plan, TaskKind
from sluice.spec.models import PipelineSpec
from sluice.spec.paths import dbt_paths
from sluice.spec.reader import load_spec
from tests.conftest import REPO, line_of
from tests.unit.test_ingest_plan import ZONES, shop


def spec(**ingest: Any) -> PipelineSpec:
    return PipelineSpec.model_validate({"pipeline": "p", "zones": ZONES, "ingest": ingest})


def test_loads_hold_back_the_first_zone_and_archival_waits_for_the_last() -> None:
    plan = build_plan(spec(connections=["orders_raw"], event_streams=["payments"]), parse_manifest(shop()))
    tasks = plan.by_id()
    load, archive = tasks["ingest.payments"], tasks["archive.payments"]
    assert load.kind is TaskKind.INGEST and load.operator is Operator.EVENT_LOAD and load.upstream == ()
    assert load.arguments == EventArgs("payments", "../../event_streams", None)
    both = ("ingest.orders_raw", "ingest.payments")
    assert tasks["bronze.stg_static_run"].upstream == both
    assert archive.kind is TaskKind.ARCHIVE and archive.operator is Operator.EVENT_ARCHIVE
    assert isinstance(archive.arguments, ArchiveArgs)
    assert archive.upstream == ("gold.gateway",)
    assert plan.tasks[-1] is archive
    assert Plan.from_dict(plan.to_dict()) == plan
    assert plan.to_json()["tasks"][-1]["operator"] == "event_archive"


def test_event_streams_alone_are_an_ingest() -> None:
    plan = build_plan(spec(event_streams=["payments"], aws_conn_id="aws_events"), parse_manifest(shop()))
    assert [t.id for t in plan.tasks if t.zone == "ingest"] == ["ingest.payments"]
    # archival is a group of its own: in the ingest group it would both precede and follow the
    # zones, a cycle to Airflow's graph view
    assert [t.id for t in plan.tasks if t.zone == "archive"] == ["archive.payments"]
    assert plan.by_id()["ingest.payments"].arguments == EventArgs(
        "payments", "../../event_streams", "aws_events"
    )


@pytest.mark.parametrize(
    ("ingest", "message"),
    [
        ({}, "list at least one connection or event stream"),
        ({"event_streams": ["a", "a"]}, "listed twice"),
        ({"connections": ["a"], "event_streams": ["a"]}, "a: two ingest tasks would share"),
        ({"event_streams": ["a-b"]}, "must start with a letter"),
    ],
)
def test_bad_event_stream_lists_are_refused(ingest: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**ingest)


def demo_with_streams(tmp_path: Path, streams: str) -> Path:
    shutil.copytree(REPO / "event_streams", tmp_path / "event_streams")
    folder = tmp_path / "pipelines"
    folder.mkdir()
    text = (REPO / "dags" / "pipelines" / "payments_daily.yml").read_text()
    text = text.replace("project_dir: ../../dbt", f"project_dir: {REPO / 'dbt'}")
    text = text.replace("airbyte_config: ../../airbyte_config", f"airbyte_config: {REPO / 'airbyte_config'}")
    text = text.replace("event_streams_dir: ../../event_streams", "event_streams_dir: ../event_streams")
    demo = next(line for line in text.splitlines() if line.startswith("  event_streams: "))
    text = text.replace(demo, f"  event_streams: [{streams}]")
    path = folder / "payments_daily.yml"
    path.write_text(text)
    return path


def test_validate_names_an_unknown_event_stream_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = demo_with_streams(tmp_path, "payment_status, refunds")
    assert main(["validate", str(path)]) == 1
    line = line_of(path.read_text(), "refunds")
    out = capsys.readouterr().out
    assert f"{path}:{line}: ingest.event_streams[1]: no event stream 'refunds'" in out
    assert "(known: payment_status)" in out


def test_validate_names_a_broken_stream_folder_at_the_spec_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = demo_with_streams(tmp_path, "payment_status")
    (tmp_path / "event_streams" / "schemas" / "payment_status" / "v1.json").write_text("{}")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "ingest.event_streams_dir: the event streams are broken: " in out
    assert "payment_status/v1.json changed after version 1 was published" in out


def test_the_dag_draws_each_stream_task_with_its_folder_and_warehouse(tmp_path: Path) -> None:
    path = demo_with_streams(tmp_path, "payment_status")
    sf = load_spec(path)
    dag = render_dag(sf, plan_spec(sf), dbt_paths(sf))
    load, archive = dag.get_task("ingest.payment_status"), dag.get_task("archive.payment_status")
    assert isinstance(load, EventStreamOperator) and isinstance(archive, EventStreamOperator)
    assert (load.archive, archive.archive) == (False, True)
    assert load.stream == "payment_status" and load.streams_dir == (tmp_path / "event_streams").resolve()
    assert load.project_dir == REPO / "dbt" and load.target == "local"
    assert load.downstream_task_ids == dag.get_task("ingest.payments_raw").downstream_task_ids
    # the graph view sorts the groups as the serialized DAG has them: it refuses a cycle between them
    groups = DagSerialization.from_dict(DagSerialization.to_dict(dag)).task_group
    assert [n.node_id for n in groups.topological_sort()] == ["ingest", "bronze", "silver", "gold", "archive"]
    assert archive.upstream_task_ids == {"gold.publish"}


QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/payment-status-landing"


def test_landing_queues_are_planned_per_stream_and_stored() -> None:
    plan = build_plan(
        spec(event_streams=["payments"], landing_queues={"payments": QUEUE}, aws_conn_id="aws_events"),
        parse_manifest(shop()),
    )
    (found,) = plan.dag.landing
    assert (found.stream, found.asset, found.queue_url, found.aws_conn_id) == (
        "payments",
        "x-sluice-events://payments",
        QUEUE,
        "aws_events",
    )
    assert Plan.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize(
    ("ingest", "message"),
    [
        (
            {"event_streams": ["a"], "landing_queues": {"b": QUEUE}},
            "landing_queues names b, not in event_streams",
        ),
        ({"event_streams": ["a"], "landing_queues": {"a": "sqs://q"}}, "should match pattern"),
    ],
)
def test_bad_landing_queues_are_refused(ingest: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**ingest)


def test_a_landing_queue_does_not_combine_with_a_one_off_schedule() -> None:
    with pytest.raises(ValueError, match=r"schedule @once cannot be combined with ingest\.landing_queues"):
        PipelineSpec.model_validate(
            {
                "pipeline": "p",
                "zones": ZONES,
                "schedule": "@once",
                "ingest": {"event_streams": ["a"], "landing_queues": {"a": QUEUE}},
            }
        )


def test_files_landing_start_a_run_besides_the_cron_schedule(tmp_path: Path) -> None:
    from airflow.providers.amazon.aws.triggers.sqs import SqsSensorTrigger
    from airflow.sdk import AssetAny, AssetOrTimeSchedule
    from airflow.serialization.serialized_objects import DagSerialization

    path = demo_with_streams(tmp_path, "payment_status")
    text = path.read_text().replace(
        "  event_streams_dir:", f"  landing_queues:\n    payment_status: {QUEUE}\n  event_streams_dir:"
    )
    path.write_text(text)
    sf = load_spec(path)
    dag = render_dag(sf, plan_spec(sf), dbt_paths(sf))
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    condition = dag.timetable.asset_condition  # type: ignore[attr-defined]
    assert isinstance(condition, AssetAny)
    (asset,) = condition.objects
    assert asset.uri == "x-sluice-events://payment_status"
    (watcher,) = asset.watchers
    inner = watcher.trigger.trigger
    assert isinstance(inner, SqsSensorTrigger) and inner.sqs_queue == QUEUE
    assert dag.timetable.timetable.expression == "0 5 * * *"  # type: ignore[attr-defined]
    serialized = DagSerialization.to_dict(dag)
    assert "x-sluice-events://payment_status" in str(serialized)
    assert main(["validate", str(path)]) == 0
