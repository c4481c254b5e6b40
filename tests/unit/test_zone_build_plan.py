"""The plan of worker execution: one zone build task per zone, watched by the zone's dbt tasks,
which the triggerer answers; subprocess execution keeps a task per dbt process."""

from __future__ import annotations

from typing import Any

from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.model import DbtArgs, Plan, TaskKind, ZoneBuildArgs
from sluice.spec.models import ExecutionMode, PipelineSpec
from tests.unit.manifests import m, node
from tests.unit.test_atomic_publish import MACROS, in_schema
from tests.unit.test_atomic_publish import plan_of as atomic_plan
from tests.unit.test_atomic_publish import shop as atomic_shop
from tests.unit.test_plan import shop, spec


def plan_of(execution: ExecutionMode | None = None, **overrides: Any) -> Plan:
    raw = shop()
    raw["macros"] = {**raw.get("macros", {}), **MACROS}
    return build_plan(spec(**overrides), parse_manifest(raw), execution=execution)


def dbt_tasks(plan: Plan) -> list[Any]:
    return [t for t in plan.tasks if isinstance(t.arguments, DbtArgs)]


def test_each_zone_gets_one_build_task_that_its_dbt_tasks_watch() -> None:
    plan = plan_of()
    builds = {t.zone: t for t in plan.tasks if t.kind is TaskKind.BUILD}
    assert sorted(builds) == ["bronze", "gold", "silver"]
    for task in dbt_tasks(plan):
        assert task.arguments.watch == builds[task.zone].id, task.id
    for zone, build in builds.items():
        args = build.arguments
        assert isinstance(args, ZoneBuildArgs) and args.zone == zone
        # it builds exactly the selectors its zone's tasks run, which they read back from it
        watched = sorted(s for t in dbt_tasks(plan) if t.zone == zone for s in t.select)
        assert args.dbt.batch == zone
        assert sorted(plan.batches[zone]) == watched
        assert args.dbt.command == "build"


def test_a_zone_builds_once_the_last_zone_is_built_while_its_tasks_still_report() -> None:
    plan = plan_of()
    by_id = plan.by_id()
    assert by_id["bronze.build"].upstream == ()  # the first zone starts at once (no ingest here)
    # the next zone's build waits for the last one's build (which fails if a node did not pass),
    # not for the gateway, which waits for every task to report from the triggerer
    assert by_id["silver.build"].upstream == ("bronze.build",)
    assert by_id["gold.build"].upstream == ("silver.build",)
    # the zone's own tasks keep the zone order Airflow shows: after the previous gateway
    assert by_id["silver.orders_run"].upstream == ("bronze.gateway",)
    downstream = {u for t in plan.tasks for u in t.upstream}
    assert "gold.build" not in downstream, "the last build gates nothing: a failed node is red on its task"
    assert {t.id for t in plan.tasks if "bronze.build" in t.upstream} == {"silver.build"}
    build = by_id["silver.build"]
    assert build.retries == 0, "a retry would race its tasks' own runs"
    # a zone whose previous zone failed builds nothing; one whose stage a selection skipped marks
    # its tasks skipped
    assert build.trigger_rule == "none_failed"


def test_after_an_atomic_zone_the_next_zone_waits_for_its_publish() -> None:
    """A publish is the zone's last step, not a report of it: what follows waits for it."""
    raw = atomic_shop(
        in_schema(node("model", "report", (m("daily"),), path="models/report/report.sql"), "report")
    )
    zones = [
        {"name": "bronze", "select": ["path:seeds", "path:models/bronze"]},
        {"name": "gold", "select": ["path:models/gold"], "publish": "atomic"},
        {"name": "report", "select": ["path:models/report"]},
    ]
    plan = build_plan(PipelineSpec.model_validate({"pipeline": "p", "zones": zones}), parse_manifest(raw))
    by_id = plan.by_id()
    assert by_id["gold.stage"].upstream == ("bronze.build",)
    assert by_id["gold.daily_run"].upstream == ("bronze.gateway", "gold.stage")
    assert by_id["report.build"].upstream == ("gold.publish",)
    assert by_id["report.report_run"].upstream == ("gold.publish",)


def test_atomic_zone_build_runs_in_staging_after_the_stage_task() -> None:
    plan = atomic_plan(atomic_shop())
    build = plan.by_id()["gold.build"]
    assert build.upstream == ("gold.stage",)
    assert isinstance(build.arguments, ZoneBuildArgs)
    daily = plan.by_id()["gold.daily_run"].arguments
    assert isinstance(daily, DbtArgs) and daily.vars and "sluice_staging" in daily.vars
    assert build.arguments.dbt.vars == daily.vars, "the build writes where the tasks would"


def test_subprocess_execution_keeps_one_process_per_task() -> None:
    plan = plan_of(ExecutionMode.SUBPROCESS)
    assert not [t for t in plan.tasks if t.kind is TaskKind.BUILD]
    assert all(t.arguments.watch is None for t in dbt_tasks(plan))
    assert plan.dbt.execution == "subprocess"


def test_tests_that_do_not_gate_models_have_no_zone_build() -> None:
    """Only where tests gate their model's children, as `dbt build` does, is there a build."""
    plan = plan_of(tests="after_zone")
    assert not [t for t in plan.tasks if t.kind is TaskKind.BUILD]
    assert all(t.arguments.watch is None for t in dbt_tasks(plan))


def test_plan_json_names_the_build_kind_and_keeps_the_contract_keys() -> None:
    doc = plan_of().to_json()
    builds = [t for t in doc["tasks"] if t["kind"] == "build"]
    assert [t["id"] for t in builds] == ["bronze.build", "silver.build", "gold.build"]
    for task in doc["tasks"]:
        assert {"id", "kind", "zone", "node", "upstream"} <= set(task)
    assert builds[1]["operator"] == "zone_build" and builds[1]["node"] is None
