"""The plan layer on manifests written in the tests: edges, zones, gateways, errors."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.errors import PlanError
from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.model import Plan, TaskKind
from sluice.spec.models import PipelineSpec
from tests.unit.manifests import PROJECT, m, manifest, node

ZONES = [
    {"name": "bronze", "select": ["path:seeds", "path:models/bronze"]},
    {"name": "silver", "select": ["path:models/silver"]},
    {"name": "gold", "select": ["path:models/gold"]},
]


def spec(**overrides: Any) -> PipelineSpec:
    return PipelineSpec.model_validate({"pipeline": "p", "zones": ZONES, **overrides})


def plan_of(raw: dict[str, Any], **overrides: Any) -> Plan:
    return build_plan(spec(**overrides), parse_manifest(raw))


def shop() -> dict[str, Any]:
    """seed → stg (bronze) → eph (ephemeral, silver) → orders (silver) → mart (gold)."""
    return manifest(
        node("seed", "raw_orders"),
        node("model", "stg_orders", ("seed.shop.raw_orders",), path="models/bronze/stg_orders.sql"),
        node("model", "eph", (m("stg_orders"),), path="models/silver/eph.sql", materialized="ephemeral"),
        node("model", "orders", (m("eph"),), path="models/silver/orders.sql"),
        node("model", "mart", (m("orders"),), path="models/gold/mart.sql"),
        node("test", "unique_stg", (m("stg_orders"),)),
        node("test", "warn_orders", (m("orders"),), severity="warn"),
        node("test", "rel_mart_stg", (m("mart"), m("stg_orders"))),
        node("test", "not_null_mart", (m("mart"),)),
    )


def ids(plan: Plan) -> dict[str, list[str]]:
    return {t.id: list(t.upstream) for t in plan.tasks}


def test_one_run_task_per_model_and_a_test_task_per_tested_model() -> None:
    plan = plan_of(shop())
    kinds = {t.id: t.kind for t in plan.tasks}
    assert kinds == {
        "bronze.raw_orders_seed": TaskKind.SEED,
        "bronze.stg_orders_run": TaskKind.RUN,
        "bronze.stg_orders_test": TaskKind.TEST,
        "bronze.gateway": TaskKind.GATEWAY,
        "silver.orders_run": TaskKind.RUN,
        "silver.orders_test": TaskKind.TEST,
        "silver.gateway": TaskKind.GATEWAY,
        "gold.mart_run": TaskKind.RUN,
        "gold.mart_test": TaskKind.TEST,
        "gold.gateway": TaskKind.GATEWAY,
        # worker execution: one dbt build per zone answers its tasks (test_zone_build_plan.py)
        "bronze.build": TaskKind.BUILD,
        "silver.build": TaskKind.BUILD,
        "gold.build": TaskKind.BUILD,
    }


def test_ephemeral_model_has_no_task_and_its_dependencies_pass_through() -> None:
    plan = plan_of(shop())
    assert not any(t.node == m("eph") for t in plan.tasks)
    # orders depends on eph, which depends on stg_orders (bronze): orders waits for the gateway
    assert ids(plan)["silver.orders_run"] == ["bronze.gateway"]


def test_a_test_with_two_parents_runs_once_after_both() -> None:
    plan = plan_of(shop())
    carrying = [t for t in plan.tasks if "fqn:shop.rel_mart_stg" in t.select]
    assert [t.id for t in carrying] == ["gold.mart_test"]
    # stg_orders is in an earlier zone: the gateway already holds it, so only mart's run is named
    assert ids(plan)["gold.mart_test"] == ["gold.mart_run"]


def test_two_parent_test_in_one_zone_waits_for_both_runs() -> None:
    raw = manifest(
        node("model", "a", path="models/bronze/a.sql"),
        node("model", "b", path="models/bronze/b.sql"),
        node("test", "rel_b_a", (m("b"), m("a"))),
    )
    plan = plan_of(raw, zones=[{"name": "bronze", "select": ["path:models"]}])
    tests = [t for t in plan.tasks if t.kind is TaskKind.TEST]
    assert len(tests) == 1
    assert set(tests[0].upstream) == {"bronze.a_run", "bronze.b_run"}


def test_gateway_waits_for_runs_and_blocking_tests_but_not_warn_tests() -> None:
    plan = plan_of(shop())
    assert ids(plan)["silver.gateway"] == ["bronze.gateway", "silver.orders_run"]
    assert ids(plan)["bronze.gateway"] == [
        "bronze.raw_orders_seed",
        "bronze.stg_orders_run",
        "bronze.stg_orders_test",
    ]
    warn_task = plan.by_id()["silver.orders_test"]
    assert not warn_task.blocking


def test_children_wait_for_blocking_tests_of_their_parent_after_model() -> None:
    raw = manifest(
        node("model", "a", path="models/bronze/a.sql"),
        node("model", "b", (m("a"),), path="models/bronze/b.sql"),
        node("test", "unique_a", (m("a"),)),
    )
    zones = [{"name": "bronze", "select": ["path:models"]}]
    assert ids(plan_of(raw, zones=zones))["bronze.b_run"] == ["bronze.a_test"]
    assert ids(plan_of(raw, zones=zones, tests="after_zone"))["bronze.b_run"] == ["bronze.a_run"]
    no_tests = plan_of(raw, zones=zones, tests="none")
    assert not [t for t in no_tests.tasks if t.kind is TaskKind.TEST]


def test_first_tasks_of_a_zone_wait_for_the_previous_gateway() -> None:
    plan = plan_of(shop())
    for task in plan.tasks:
        if task.zone == "gold" and task.kind is TaskKind.RUN:
            assert task.upstream == ("silver.gateway",)


def test_disabled_nodes_and_other_packages_get_no_task_unless_selected() -> None:
    raw = manifest(
        node("model", "a", path="models/bronze/a.sql"),
        node("model", "off", path="models/bronze/off.sql", enabled=False),
        node("model", "pkg_model", path="models/bronze/pkg_model.sql", package="vendor"),
    )
    raw["disabled"] = {"model.shop.gone": [{"unique_id": "model.shop.gone"}]}
    zones = [{"name": "bronze", "select": ["path:models/bronze"]}]
    plan = plan_of(raw, zones=zones)
    assert [t.node for t in plan.tasks if t.kind is TaskKind.RUN] == [m("a")]
    selected = plan_of(raw, zones=zones, dbt={"select": [f"package:{PROJECT}", "package:vendor"]})
    assert {t.node for t in selected.tasks if t.kind is TaskKind.RUN} == {m("a"), m("pkg_model", "vendor")}


def test_analyses_and_operations_get_no_task() -> None:
    raw = manifest(node("model", "a", path="models/bronze/a.sql"))
    raw["nodes"]["analysis.shop.x"] = {
        "resource_type": "analysis",
        "original_file_path": "models/bronze/x.sql",
    }
    raw["nodes"]["operation.shop.hook"] = {
        "resource_type": "operation",
        "original_file_path": "models/bronze/h",
    }
    plan = plan_of(raw, zones=[{"name": "bronze", "select": ["path:models"]}])
    assert [t.node for t in plan.tasks if t.node] == [m("a")]


def test_model_of_earlier_zone_depending_on_later_zone_lists_the_edges() -> None:
    raw = manifest(
        node("model", "late", path="models/gold/late.sql"),
        node("model", "early", (m("late"),), path="models/bronze/early.sql"),
        node("model", "mid", path="models/silver/mid.sql"),
        node("seed", "raw"),
    )
    with pytest.raises(PlanError) as err:
        plan_of(raw)
    assert err.value.key == "zones[0].select"
    assert "model.shop.early (bronze) depends on model.shop.late (gold)" in err.value.message


def test_unassigned_model_is_an_error_or_a_warning_as_the_spec_says() -> None:
    raw = manifest(
        node("model", "a", path="models/bronze/a.sql"),
        node("model", "stray", path="models/misc/stray.sql"),
    )
    zones = [{"name": "bronze", "select": ["path:models/bronze"]}]
    with pytest.raises(PlanError, match=r"1 node\(s\) in no zone: model.shop.stray"):
        plan_of(raw, zones=zones)
    plan = plan_of(raw, zones=zones, unassigned="warn")
    assert plan.warnings and "model.shop.stray" in plan.warnings[0]
    assert not any(t.node == m("stray") for t in plan.tasks)


def test_selector_matching_nothing_is_an_error_naming_it() -> None:
    raw = manifest(node("model", "a", path="models/bronze/a.sql"))
    zones = [{"name": "bronze", "select": ["path:models/bronze", "tag:nope"]}]
    with pytest.raises(PlanError) as err:
        plan_of(raw, zones=zones)
    assert err.value.key == "zones[0].select[1]"
    assert "'tag:nope' matches no selected dbt node" in err.value.message


def test_first_zone_that_selects_a_node_wins() -> None:
    raw = manifest(
        node("model", "stg", path="models/staging/stg.sql"),
        node("model", "mart", (m("stg"),), path="models/marts/mart.sql"),
    )
    zones = [
        {"name": "bronze", "select": ["path:models/staging"]},
        {"name": "gold", "select": ["path:models"]},
    ]
    plan = plan_of(raw, zones=zones)
    assert plan.by_id()["bronze.stg_run"].node == m("stg")
    assert plan.by_id()["gold.mart_run"].upstream == ("bronze.gateway",)


def test_source_tests_run_first_and_gate_the_models_reading_the_source() -> None:
    src = "source.shop.raw.orders"
    raw = manifest(
        node("model", "stg", (src,), path="models/bronze/stg.sql"),
        node("test", "src_not_null", (src,)),
        sources=(src,),
    )
    plan = plan_of(raw, zones=[{"name": "bronze", "select": ["path:models"]}])
    # first of the zone's dbt tasks (its build task starts beside them)
    first = next(t for t in plan.tasks if t.kind is not TaskKind.BUILD)
    assert first.id == "bronze.source_raw_orders_test"
    assert plan.by_id()["bronze.stg_run"].upstream == ("bronze.source_raw_orders_test",)


def test_same_model_name_in_two_packages_gets_distinct_task_ids() -> None:
    raw = manifest(
        node("model", "dup", path="models/bronze/dup.sql"),
        node("model", "dup", path="models/bronze/dup.sql", package="vendor"),
    )
    plan = plan_of(
        raw,
        zones=[{"name": "bronze", "select": ["path:models"]}],
        dbt={"select": ["package:shop", "package:vendor"]},
    )
    runs = sorted(t.id for t in plan.tasks if t.kind is TaskKind.RUN)
    assert runs == ["bronze.shop__dup_run", "bronze.vendor__dup_run"]


def test_dbt_selector_names_exactly_the_node_by_fqn() -> None:
    plan = plan_of(shop())
    assert plan.by_id()["bronze.stg_orders_run"].select == ("fqn:shop.bronze.stg_orders",)
    assert plan.by_id()["gold.mart_test"].select == ("fqn:shop.not_null_mart", "fqn:shop.rel_mart_stg")


def test_plan_json_has_the_contract_fields() -> None:
    doc = plan_of(shop()).to_json()
    assert doc["pipeline"] == "p"
    for task in doc["tasks"]:
        assert list(task)[:5] == ["id", "kind", "zone", "node", "upstream"]
    listed = [t["id"] for t in doc["tasks"]]
    for i, task in enumerate(doc["tasks"]):
        assert all(listed.index(u) < i for u in task["upstream"]), "tasks are printed in run order"
