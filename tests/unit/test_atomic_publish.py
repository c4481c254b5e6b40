"""Atomic zones: the plan's stage and publish tasks, and the SQL that swaps a zone live."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pytest

from sluice.errors import PlanError
from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.model import Plan, TaskKind
from sluice.runtime.publish import (
    Engine,
    PublishError,
    Warehouse,
    publish_sql,
    publisher_for,
    result_of,
    stage_sql,
)
from sluice.runtime.publish.snowflake import grant_sql, undo_sql
from sluice.spec.models import PipelineSpec
from tests.unit.manifests import SLUICE_MACROS as MACROS
from tests.unit.manifests import m, manifest, node


def in_schema(entry: tuple[str, dict[str, Any]], schema: str) -> tuple[str, dict[str, Any]]:
    uid, raw = entry
    return uid, {**raw, "schema": schema, "alias": raw["name"]}


def shop(*extra: tuple[str, dict[str, Any]], macros: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = manifest(
        in_schema(node("seed", "raw_orders"), "raw"),
        in_schema(
            node("model", "stg_orders", ("seed.shop.raw_orders",), path="models/bronze/stg.sql"), "bronze"
        ),
        in_schema(node("model", "daily", (m("stg_orders"),), path="models/gold/daily.sql"), "gold"),
        in_schema(
            node(
                "model",
                "history",
                (m("stg_orders"),),
                path="models/gold/history.sql",
                materialized="incremental",
            ),
            "gold",
        ),
        in_schema(node("model", "by_customer", (m("daily"),), path="models/gold/by_customer.sql"), "gold"),
        node("test", "totals_agree", (m("daily"), m("by_customer"))),
        node("test", "unique_stg", (m("stg_orders"),)),
        *extra,
    )
    raw["macros"] = MACROS if macros is None else macros
    return raw


def plan_of(raw: dict[str, Any]) -> Plan:
    zones = [
        {"name": "bronze", "select": ["path:seeds", "path:models/bronze"]},
        {"name": "gold", "select": ["path:models/gold"], "publish": "atomic"},
    ]
    return build_plan(PipelineSpec.model_validate({"pipeline": "p", "zones": zones}), parse_manifest(raw))


def test_atomic_zone_builds_behind_a_stage_task_and_ends_in_a_publish_task() -> None:
    plan = plan_of(shop())
    tasks = plan.by_id()
    assert tasks["gold.stage"].kind is TaskKind.STAGE
    # staging starts once bronze is built (tests/unit/test_zone_build_plan.py)
    assert tasks["gold.stage"].upstream == ("bronze.build",)
    assert tasks["gold.stage"].arguments.schemas == ("gold",)
    # the incremental model keeps its history: the stage task copies it from live
    assert tasks["gold.stage"].arguments.keep == ("gold.history",)
    assert tasks["gold.daily_run"].upstream == ("bronze.gateway", "gold.stage")
    assert tasks["gold.history_run"].upstream == ("bronze.gateway", "gold.stage")
    assert tasks["gold.by_customer_run"].upstream == ("gold.daily_run",)
    publish = tasks["gold.publish"]
    assert publish.kind is TaskKind.PUBLISH
    assert set(publish.upstream) >= {"gold.daily_run", "gold.by_customer_test", "gold.history_run"}
    assert "gold.gateway" not in tasks
    # models and tests of the zone build into staging; the barrier zone's do not
    assert tasks["gold.by_customer_test"].arguments.vars == '{"sluice_staging": ["gold"]}'
    assert tasks["bronze.stg_orders_run"].arguments.vars is None


def test_a_later_zone_waits_for_the_publish_task() -> None:
    raw = shop(in_schema(node("model", "report", (m("daily"),), path="models/report/report.sql"), "report"))
    zones = [
        {"name": "bronze", "select": ["path:seeds", "path:models/bronze"]},
        {"name": "gold", "select": ["path:models/gold"], "publish": "atomic"},
        {"name": "report", "select": ["path:models/report"]},
    ]
    plan = build_plan(PipelineSpec.model_validate({"pipeline": "p", "zones": zones}), parse_manifest(raw))
    assert plan.by_id()["report.report_run"].upstream == ("gold.publish",)
    assert plan.by_id()["report.report_run"].arguments.vars is None


def test_an_atomic_zone_must_own_its_schemas() -> None:
    stranger = in_schema(node("model", "stray", (m("stg_orders"),), path="models/bronze/stray.sql"), "gold")
    with pytest.raises(PlanError) as err:
        plan_of(shop(stranger))
    assert err.value.key == "zones[1].publish"
    assert "model.shop.stray (schema gold)" in str(err.value)


def test_an_atomic_zone_needs_the_sluice_macros() -> None:
    with pytest.raises(PlanError) as err:
        plan_of(shop(macros={}))
    assert "copy dbt/macros/sluice" in str(err.value)


def test_compiled_plan_round_trip_keeps_the_atomic_fields() -> None:
    plan = plan_of(shop())
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def warehouse(engine: str, live: bool = True, staged: tuple[tuple[str, str], ...] = ()) -> Warehouse:
    relations: dict[str, Any] = {
        "gold": {
            "exists": live,
            "relations": [{"name": "daily", "type": "table"}, {"name": "old", "type": "table"}],
        },
        "gold__staging": {"exists": True, "relations": [{"name": n, "type": t} for n, t in staged]},
    }
    # DuckDB reports every view's SQL; Redshift only late-binding ones, and this zone has none
    views = {"gold__staging.v": 'CREATE VIEW gold__staging.v AS SELECT * FROM "gold__staging".daily;'}
    views = views if engine == "duckdb" else {}
    return Warehouse.from_result(
        {"type": engine, "database": "ANALYTICS", "schemas": relations, "views": views}
    )


def test_snowflake_swaps_each_schema_and_drops_the_old_version_after() -> None:
    assert publish_sql(warehouse("snowflake"), ["gold"]) == [
        'alter schema "ANALYTICS"."GOLD__STAGING" swap with "ANALYTICS"."GOLD"',
        'drop schema if exists "ANALYTICS"."GOLD__STAGING"',
    ]
    # first publish: nothing live to swap with
    assert publish_sql(warehouse("snowflake", live=False), ["gold"]) == [
        'alter schema "ANALYTICS"."GOLD__STAGING" rename to "ANALYTICS"."GOLD"'
    ]
    assert undo_sql(warehouse("snowflake"), ["gold"]) == [
        'alter schema "ANALYTICS"."GOLD" swap with "ANALYTICS"."GOLD__STAGING"'
    ]


def test_snowflake_staging_gets_the_live_schema_grants_before_the_swap() -> None:
    grants = {
        "gold": [
            ["OWNERSHIP", "ROLE", "TRANSFORMER"],
            ["USAGE", "ROLE", "REPORTER"],
            ["USAGE", "DATABASE_ROLE", "ANALYTICS.GOLD_READER"],
            ["USAGE", "SHARE", "PARTNER_SHARE"],
        ]
    }
    assert grant_sql(warehouse("snowflake"), grants) == [
        'grant usage on schema "ANALYTICS"."GOLD__STAGING" to role "REPORTER"',
        'grant usage on schema "ANALYTICS"."GOLD__STAGING" to database role "ANALYTICS"."GOLD_READER"',
    ]


def test_snowflake_stage_is_a_zero_copy_clone_of_live() -> None:
    assert stage_sql(warehouse("snowflake"), ["gold"], ["gold.history"]) == [
        'create or replace schema "ANALYTICS"."GOLD__STAGING" clone "ANALYTICS"."GOLD"'
    ]


def test_postgres_renames_both_ways_in_one_transaction() -> None:
    statements = publish_sql(warehouse("postgres"), ["gold"])
    assert statements == [
        'begin; alter schema "gold" rename to "gold__sluice_retired"; '
        'alter schema "gold__staging" rename to "gold"; commit',
        'drop schema if exists "gold__sluice_retired" cascade',
    ]


def test_redshift_renames_both_ways_in_one_transaction() -> None:
    assert publish_sql(warehouse("redshift"), ["gold"]) == [
        'begin; alter schema "gold" rename to "gold__sluice_retired"; '
        'alter schema "gold__staging" rename to "gold"; commit',
        'drop schema if exists "gold__sluice_retired" cascade',
    ]
    # first publish: nothing live to retire or drop
    assert publish_sql(warehouse("redshift", live=False), ["gold"]) == [
        'begin; alter schema "gold__staging" rename to "gold"; commit'
    ]


def test_redshift_stage_keeps_the_distribution_and_sort_keys_of_kept_tables() -> None:
    assert stage_sql(warehouse("redshift"), ["gold"], ["gold.daily", "gold.missing"]) == [
        'drop schema if exists "gold__staging" cascade',
        'create schema "gold__staging"',
        'create table "gold__staging"."daily" (like "gold"."daily")',
        'insert into "gold__staging"."daily" select * from "gold"."daily"',
    ]


def test_redshift_refuses_a_schema_whose_suffixed_name_is_longer_than_it_takes() -> None:
    fits = "g" * (127 - len("__sluice_retired"))
    assert publish_sql(warehouse_of("redshift", fits), [fits])[0].count(fits) == 4
    long = fits + "x"
    with pytest.raises(PublishError, match=r"longer than 127 bytes") as err:
        publish_sql(warehouse_of("redshift", long), [long])
    assert "\n" not in str(err.value)
    # bytes, not characters: 64 two-byte letters are 128 bytes
    with pytest.raises(PublishError, match=r"longer than 127 bytes"):
        stage_sql(warehouse_of("redshift", "ü" * 60), ["ü" * 60], [])


def test_redshift_refuses_to_publish_a_late_binding_view_of_the_staging_schema() -> None:
    base = warehouse("redshift", staged=(("daily", "table"), ("v", "view")))
    late = {
        "gold__staging.v": 'create view "gold__staging"."v" as select * from "gold__staging"."daily" '
        "with no schema binding"
    }
    wh = Warehouse(base.engine, base.database, base.exists, base.relations, late)
    with pytest.raises(PublishError, match=r"late-binding view\(s\) gold__staging\.v name their staging"):
        publish_sql(wh, ["gold"])
    # a late-binding view of another schema reads live by name, and follows the publish
    other = Warehouse(base.engine, base.database, base.exists, base.relations, {"reports.v": "..."})
    assert publish_sql(other, ["gold"])[0].startswith("begin; ")


def test_redshift_lease_reads_the_clock_redshift_allows_on_user_tables() -> None:
    assert publisher_for("redshift").clock == "getdate()"
    assert {publisher_for(e).clock for e in ("duckdb", "postgres", "snowflake")} == {"current_timestamp"}


def warehouse_of(engine: str, schema: str) -> Warehouse:
    schemas = {
        schema: {"exists": True, "relations": [{"name": "daily", "type": "table"}]},
        schema + "__staging": {"exists": True, "relations": [{"name": "daily", "type": "table"}]},
    }
    return Warehouse.from_result({"type": engine, "database": "analytics", "schemas": schemas})


def test_stage_copies_only_kept_relations_that_exist_live() -> None:
    assert stage_sql(warehouse("postgres"), ["gold"], ["gold.daily", "gold.missing"]) == [
        'drop schema if exists "gold__staging" cascade',
        'create schema "gold__staging"',
        'create table "gold__staging"."daily" as select * from "gold"."daily"',
    ]


def test_duckdb_replaces_live_relations_in_one_transaction_and_repoints_views() -> None:
    (sql,) = publish_sql(warehouse("duckdb", staged=(("daily", "table"), ("v", "view"))), ["gold"])
    assert sql.startswith("begin transaction; ") and sql.endswith("; commit")
    body = sql.removeprefix("begin transaction; ").removesuffix("; commit").split("; ")
    assert body == [
        'create schema if not exists "ANALYTICS"."gold"',
        'drop table if exists "ANALYTICS"."gold"."old"',  # a model removed from the project
        'create or replace table "ANALYTICS"."gold"."daily" as '
        'select * from "ANALYTICS"."gold__staging"."daily"',
        'create or replace view "gold".v AS SELECT * FROM "gold".daily',  # pointed at live
        'drop schema "ANALYTICS"."gold__staging" cascade',
    ]


def test_nothing_staged_is_an_error_not_an_empty_zone() -> None:
    wh = Warehouse.from_result(
        {"type": "postgres", "database": "d", "schemas": {"gold": {"exists": True, "relations": []}}}
    )
    with pytest.raises(PublishError, match=re.escape('"gold__staging" missing')):
        publish_sql(wh, ["gold"])


def test_unsupported_adapter_and_missing_macro_answer_are_one_line_errors() -> None:
    with pytest.raises(PublishError) as err:
        Warehouse.from_result({"type": "bigquery", "database": "d", "schemas": {}})
    assert str(err.value) == (
        "atomic publish does not support dbt adapter 'bigquery' (supported: duckdb, postgres, "
        "snowflake, redshift); use publish: barrier for zones on this warehouse"
    )
    with pytest.raises(PublishError, match="copy dbt/macros/sluice"):
        result_of(["12:00:00  Running with dbt=1.11"])
    assert result_of(['12:00:01  SLUICE-RESULT {"statements": 2}']) == {"statements": 2}


def test_every_engine_has_its_publisher() -> None:
    for engine in Engine:
        assert publisher_for(engine).engine is engine
    wh = Warehouse.from_result({"type": "postgres", "database": "d", "schemas": {}})
    assert wh.engine is Engine.POSTGRES


class Session:
    """The warehouse as a publisher sees it, for the engine that cannot run here: records what is
    run, and fails the statement it is told to fail, as Snowflake would."""

    def __init__(self, fail: str = "", grants: dict[str, Any] | None = None) -> None:
        self.fail, self.grants = fail, grants or {}
        self.ran: list[str] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lines: list[str] = []

    def run(self, statements: Sequence[str]) -> None:
        for sql in statements:
            if sql == self.fail:
                raise PublishError(f"SQL compilation error in {sql}")
            self.ran.append(sql)

    def call(self, macro: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((macro, args))
        return self.grants

    def log(self, line: str) -> None:
        self.lines.append(line)


def two_schemas(engine: str) -> Warehouse:
    schemas = {
        s: {"exists": True, "relations": [{"name": "daily", "type": "table"}]}
        for s in ("gold", "gold__staging", "marts", "marts__staging")
    }
    return Warehouse.from_result({"type": engine, "database": "ANALYTICS", "schemas": schemas})


def test_snowflake_swaps_back_what_it_swapped_when_a_later_swap_fails() -> None:
    wh = two_schemas("snowflake")
    statements = publish_sql(wh, ["gold", "marts"])
    session = Session(fail=statements[1], grants={"gold": [["USAGE", "ROLE", "REPORTER"]]})
    with pytest.raises(PublishError, match="SQL compilation error"):
        wh.publisher.publish(session, wh, ["gold", "marts"], statements)
    assert session.calls == [("sluice_schema_grants", {"schemas": ["gold", "marts"]})]
    assert session.ran == [
        'grant usage on schema "ANALYTICS"."GOLD__STAGING" to role "REPORTER"',
        'alter schema "ANALYTICS"."GOLD__STAGING" swap with "ANALYTICS"."GOLD"',
        # gold goes back to its old version; nothing is dropped
        'alter schema "ANALYTICS"."GOLD" swap with "ANALYTICS"."GOLD__STAGING"',
    ]
    assert session.lines == ["swapping back gold so the zone stays on one version"]


def test_snowflake_drops_the_old_versions_only_after_every_swap() -> None:
    wh = two_schemas("snowflake")
    statements = publish_sql(wh, ["gold", "marts"])
    session = Session()
    wh.publisher.publish(session, wh, ["gold", "marts"], statements)
    assert session.ran == statements and session.ran[-2:] == [
        'drop schema if exists "ANALYTICS"."GOLD__STAGING"',
        'drop schema if exists "ANALYTICS"."MARTS__STAGING"',
    ]


@pytest.mark.parametrize("engine", ["duckdb", "postgres", "redshift"])
def test_a_publish_in_one_transaction_runs_its_statements_as_they_are(engine: str) -> None:
    wh = two_schemas(engine)
    statements = publish_sql(wh, ["gold", "marts"])
    session = Session()
    wh.publisher.publish(session, wh, ["gold", "marts"], statements)
    assert session.ran == statements and session.calls == [] and session.lines == []
