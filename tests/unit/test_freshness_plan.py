"""Source freshness in the plan: one `dbt source freshness` task before each zone that reads
sources with a freshness rule, which every first task of the zone waits for."""

from __future__ import annotations

import json
from typing import Any

from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.model import FreshnessArgs, Plan, TaskKind
from sluice.spec.models import PipelineSpec
from tests.unit.manifests import SLUICE_MACROS, m, manifest, node, source

ORDERS, CUSTOMERS = "source.shop.raw.orders", "source.shop.crm.customers"
DAY = (24, "hour")
ZONES = [
    {"name": "bronze", "select": ["path:models/bronze"]},
    {"name": "gold", "select": ["path:models/gold"]},
]


def shop(*sources: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """bronze reads raw.orders (through an ephemeral model too), gold reads crm.customers."""
    return manifest(
        node("model", "stg_orders", (ORDERS,), path="models/bronze/stg_orders.sql"),
        node("model", "eph_orders", (ORDERS,), path="models/bronze/eph_orders.sql", materialized="ephemeral"),
        node("model", "stg_refunds", (m("eph_orders"),), path="models/bronze/stg_refunds.sql"),
        node("model", "stg_static", path="models/bronze/stg_static.sql"),
        node("model", "mart", (m("stg_orders"), CUSTOMERS), path="models/gold/mart.sql"),
        node("test", "orders_not_null", (ORDERS,)),
        sources=sources or (ORDERS, CUSTOMERS),
    )


def plan_of(raw: dict[str, Any], **spec: Any) -> Plan:
    doc = {"pipeline": "p", "zones": ZONES, "ingest": {"connections": ["shop_raw"]}, **spec}
    return build_plan(PipelineSpec.model_validate(doc), parse_manifest(raw))


def freshness_tasks(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Freshness task id → the sources it checks."""
    out = {}
    for task in plan.tasks:
        if task.kind is TaskKind.FRESHNESS:
            assert isinstance(task.arguments, FreshnessArgs)
            assert task.arguments.dbt.command == "source freshness"
            out[task.id] = task.arguments.dbt.select
    return out


def test_sources_without_a_rule_add_no_task_and_change_no_edge() -> None:
    plain = plan_of(shop())
    assert freshness_tasks(plain) == {}
    assert plain.by_id()["bronze.stg_static_run"].upstream == ("ingest.shop_raw",)
    # a rule with no threshold set (dbt writes nulls for `freshness: null`) is no rule
    unset = plan_of(shop(source(ORDERS, loaded_at_field="loaded_at"), source(CUSTOMERS)))
    assert unset.tasks == plain.tasks


def test_a_zone_reading_a_fresh_checked_source_starts_after_its_check() -> None:
    orders = source(ORDERS, warn_after=DAY, error_after=(3, "day"), loaded_at_field="_loaded_at")
    plan = plan_of(shop(orders, source(CUSTOMERS)))
    tasks = plan.by_id()
    assert freshness_tasks(plan) == {"bronze.source_freshness": ("source:shop.raw.orders",)}
    check = tasks["bronze.source_freshness"]
    assert (check.zone, check.upstream) == ("bronze", ("ingest.shop_raw",))
    assert plan.tasks.index(check) == 1, "first of its zone, right after the sync"
    # every task of the zone that waited for the sync now waits for the check; the rest come later
    after_sync = {t.id for t in plan_of(shop()).tasks if t.upstream == ("ingest.shop_raw",)}
    assert after_sync == {"bronze.stg_static_run", "bronze.source_raw_orders_test", "bronze.build"}
    for task_id in after_sync:
        assert tasks[task_id].upstream == ("bronze.source_freshness",), task_id
    assert tasks["bronze.stg_orders_run"].upstream == ("bronze.source_raw_orders_test",)
    assert "bronze.source_freshness" in tasks["bronze.gateway"].upstream
    assert tasks["gold.mart_run"].upstream == ("bronze.gateway",)
    assert "`raw.orders` | 24 hours | 3 days | `_loaded_at`" in check.doc


def test_a_later_zone_checks_its_sources_after_the_zone_before_it() -> None:
    customers = source(CUSTOMERS, error_after=(12, "hour"), loaded_at_field="updated_at")
    plan = plan_of(shop(source(ORDERS), customers))
    tasks = plan.by_id()
    assert freshness_tasks(plan) == {"gold.source_freshness": ("source:shop.crm.customers",)}
    # the check starts with gold's build, once bronze is built; gold's tasks still wait for bronze.gateway
    assert tasks["gold.source_freshness"].upstream == ("bronze.build",)
    assert tasks["gold.mart_run"].upstream == ("bronze.gateway", "gold.source_freshness")
    assert "gold.source_freshness" in tasks["gold.gateway"].upstream
    assert not any("source_freshness" in u for t in plan.tasks if t.zone == "bronze" for u in t.upstream)


def test_a_source_read_by_two_zones_is_checked_once_before_the_first() -> None:
    both = manifest(
        node("model", "stg_orders", (ORDERS,), path="models/bronze/stg_orders.sql"),
        node("model", "mart", (ORDERS,), path="models/gold/mart.sql"),
        sources=(source(ORDERS, warn_after=DAY, loaded_at_field="_loaded_at"),),
    )
    plan = plan_of(both)
    assert freshness_tasks(plan) == {"bronze.source_freshness": ("source:shop.raw.orders",)}
    assert plan.by_id()["gold.mart_run"].upstream == ("bronze.gateway",)


def test_a_source_read_only_through_an_ephemeral_model_is_checked() -> None:
    raw = shop(source(ORDERS, warn_after=DAY, loaded_at_field="_loaded_at"), source(CUSTOMERS))
    del raw["nodes"][m("stg_orders")]
    raw["nodes"][m("mart")]["depends_on"]["nodes"] = [m("stg_refunds")]
    raw["nodes"] = {k: v for k, v in raw["nodes"].items() if v["resource_type"] != "test"}
    assert freshness_tasks(plan_of(raw)) == {"bronze.source_freshness": ("source:shop.raw.orders",)}


def test_a_rule_dbt_cannot_measure_is_not_checked_and_is_named() -> None:
    orders = source(ORDERS, warn_after=DAY)  # no loaded_at_field, no loaded_at_query
    customers = source(CUSTOMERS, warn_after=DAY, loaded_at_field="updated_at")
    raw = shop(orders, customers)
    plan = plan_of(raw)
    assert freshness_tasks(plan) == {"gold.source_freshness": ("source:shop.crm.customers",)}
    assert any(ORDERS in w and "no loaded_at_field or loaded_at_query" in w for w in plan.warnings)
    # a loaded_at_query is as good as a field
    for where in (raw["sources"][ORDERS], raw["sources"][ORDERS]["config"]):
        where["loaded_at_query"] = "select max(_loaded_at) from {{ this }}"
    assert set(freshness_tasks(plan_of(raw))) == {"bronze.source_freshness", "gold.source_freshness"}


def test_an_atomic_zone_stages_after_its_check_and_its_publish_names_it() -> None:
    customers = source(CUSTOMERS, warn_after=DAY, loaded_at_field="updated_at")
    zones = [ZONES[0], {**ZONES[1], "publish": "atomic"}]
    raw = shop(source(ORDERS), customers)
    raw["nodes"][m("mart")]["schema"] = "gold"
    plan = plan_of({**raw, "macros": SLUICE_MACROS}, zones=zones)
    tasks = plan.by_id()
    assert tasks["gold.source_freshness"].upstream == ("bronze.build",)
    assert tasks["gold.stage"].upstream == ("gold.source_freshness",)
    assert "gold.source_freshness" in tasks["gold.publish"].upstream
    assert tasks["gold.mart_run"].upstream == ("bronze.gateway", "gold.stage")


def test_freshness_tasks_survive_the_stored_plan_and_print_in_json() -> None:
    orders = source(ORDERS, warn_after=DAY, loaded_at_field="_loaded_at")
    plan = plan_of(shop(orders, source(CUSTOMERS)))
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    printed = {t["id"]: t for t in plan.to_json()["tasks"]}["bronze.source_freshness"]
    assert (printed["kind"], printed["operator"]) == ("freshness", "source_freshness")
    assert printed["arguments"]["dbt"]["select"] == ["source:shop.raw.orders"]


def test_a_rule_written_only_under_config_is_read() -> None:
    orders = source(ORDERS, warn_after=DAY, loaded_at_field="_loaded_at")
    for key in ("freshness", "loaded_at_field", "loaded_at_query"):
        del orders[1][key]
    assert freshness_tasks(plan_of(shop(orders, source(CUSTOMERS)))) == {
        "bronze.source_freshness": ("source:shop.raw.orders",)
    }


def test_a_source_left_out_by_dbt_exclude_is_not_checked() -> None:
    """``dbt.exclude: [source:raw]`` as ``dbt source freshness --exclude source:raw`` reads it."""
    orders = source(ORDERS, warn_after=DAY, loaded_at_field="_loaded_at")
    customers = source(CUSTOMERS, warn_after=DAY, loaded_at_field="updated_at")
    raw = shop(orders, customers)
    both = {"bronze.source_freshness": ("source:shop.raw.orders",)}
    both["gold.source_freshness"] = ("source:shop.crm.customers",)
    assert freshness_tasks(plan_of(raw)) == both
    for excluded in ("source:raw", "source:raw.orders", "source:shop.raw.*", "source:r*"):
        plan = plan_of(raw, dbt={"exclude": [excluded]})
        assert freshness_tasks(plan) == {"gold.source_freshness": ("source:shop.crm.customers",)}, excluded
    # the models reading it are still built
    assert "bronze.stg_orders_run" in plan.by_id()
