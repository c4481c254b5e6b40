"""dbt's selector methods and set operators, as dbt answers them, on a manifest written in the
test; and the spec's one-line errors for selectors it cannot take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluice.errors import SpecErrors
from sluice.manifest.reader import Manifest, parse_manifest
from sluice.manifest.selector import matches
from sluice.plan.builder import build_plan
from sluice.plan.model import TaskKind
from sluice.spec.models import PipelineSpec
from sluice.spec.reader import load_spec
from tests.conftest import line_of
from tests.unit.manifests import m, manifest, node

ORDERS_SOURCE = "source.shop.raw.orders"
NOT_NULL = {"name": "not_null", "kwargs": {"column_name": "id"}}


def shop() -> dict[str, Any]:
    """Staging in schema datalab_stg, marts in datalab (dbt-airflow-factory's save points), with
    groups, access, versions, tests of both kinds and a source."""
    return manifest(
        node(
            "model",
            "stg_orders",
            (ORDERS_SOURCE,),
            path="models/staging/stg_orders.sql",
            materialized="view",
            tags=("daily",),
            config={"schema": "datalab_stg", "group": "finance", "meta": {"layer": "bronze", "owner": "ana"}},
            group="finance",
            access="private",
        ),
        node("seed", "raw_customers", config={"schema": "datalab_stg", "database": "lake"}),
        node(
            "model",
            "orders",
            (m("stg_orders"),),
            path="models/marts/orders.sql",
            materialized="incremental",
            config={
                "schema": "datalab",
                "group": "finance",
                "contract": {"enforced": True, "alias_types": True},
                "unique_key": ["id", "day"],
                "on_schema_change": "fail",
                "incremental_strategy": "merge",
            },
            group="finance",
            access="public",
            version=2,
            latest_version=2,
        ),
        node("model", "orders_v1", path="models/marts/orders_v1.sql", version=1, latest_version=2),
        node("model", "orders_v3", path="models/marts/orders_v3.sql", version="3", latest_version="2"),
        node(
            "model",
            "customers",
            ("seed.shop.raw_customers",),
            path="models/marts/customers.sql",
            config={
                "schema": "datalab",
                "full_refresh": False,
                "meta": {"owner": "bo"},
                "alias": "dim_customers",
            },
            access="protected",
        ),
        node(
            "test", "not_null_orders_id", (m("orders"),), severity="warn", test_metadata={"name": "not_null"}
        ),
        node("test", "unique_orders_id", (m("orders"),), test_metadata={"name": "unique", "kwargs": {}}),
        node("test", "assert_positive", (m("orders"),), path="tests/assert_positive.sql"),
        sources=(ORDERS_SOURCE,),
    )


@pytest.fixture(scope="module")
def read() -> Manifest:
    return parse_manifest(shop())


def names(read: Manifest, selector: str) -> set[str]:
    """What the index selects, checked against each node matched one by one."""
    found = read.index.select(selector)
    every = [*read.nodes.values(), *read.sources.values()]
    assert found == {n.unique_id for n in every if matches(n, selector, read.project_name)}, selector
    return {uid.split(".", 2)[2] for uid in found}


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("config.schema:datalab_stg", {"stg_orders", "raw_customers"}),
        ("config.schema:datalab", {"orders", "customers"}),
        ("config.materialized:incremental", {"orders"}),
        ("config.database:lake", {"raw_customers"}),
        ("config.alias:dim_customers", {"customers"}),
        ("config.group:finance", {"stg_orders", "orders"}),
        ("config.incremental_strategy:merge", {"orders"}),
        ("config.on_schema_change:fail", {"orders"}),
        ("config.meta.layer:bronze", {"stg_orders"}),
        ("config.meta.owner:bo", {"customers"}),
        ("config.contract.enforced:true", {"orders"}),
        ("config.contract.enforced:TRUE", {"orders"}),
        ("config.full_refresh:false", {"customers"}),
        ("config.unique_key:day", {"orders"}),
        ("config.tags:daily", {"stg_orders"}),
        ("config.severity:warn", {"not_null_orders_id"}),  # dbt compares severity in any case
        ("config.materialized:Incremental", set()),  # any other key exactly
        ("config.schema:datalab*", set()),  # config values are not patterns in dbt
    ],
)
def test_config_selects_by_a_config_value_as_dbt_compares_it(
    read: Manifest, selector: str, selected: set[str]
) -> None:
    assert names(read, selector) == selected


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("group:finance", {"stg_orders", "orders"}),
        ("group:fin*", {"stg_orders", "orders"}),
        ("access:public", {"orders"}),
        ("access:protected", {"customers"}),
        ("access:private", {"stg_orders"}),
        ("version:latest", {"orders"}),
        ("version:old", {"orders_v1"}),
        ("version:prerelease", {"orders_v3"}),
        ("version:none", {"stg_orders", "customers"}),
        ("test_type:generic", {"not_null_orders_id", "unique_orders_id"}),
        ("test_type:schema", {"not_null_orders_id", "unique_orders_id"}),
        ("test_type:singular", {"assert_positive"}),
        ("test_type:data", {"not_null_orders_id", "unique_orders_id", "assert_positive"}),
        ("test_type:unit", set()),  # unit tests are no manifest nodes sluice reads
        ("test_name:not_null", {"not_null_orders_id"}),
        ("test_name:un*", {"unique_orders_id"}),
        ("source:raw", {"raw.orders"}),
        ("source:raw.orders", {"raw.orders"}),
        ("source:shop.raw.orders", {"raw.orders"}),
        ("source:shop.r*.*", {"raw.orders"}),
        ("source:crm", set()),
        ("file:stg_orders.sql", {"stg_orders"}),
        ("file:stg_orders", {"stg_orders"}),
        ("stg_orders.sql", {"stg_orders"}),  # a bare file name is dbt's file:
        ("file:orders_v*", {"orders_v1", "orders_v3"}),
        ("package:this", {*(n.split(".", 2)[2] for n in shop()["nodes"]), "raw.orders"}),
    ],
)
def test_each_method_selects_what_dbt_selects(read: Manifest, selector: str, selected: set[str]) -> None:
    assert names(read, selector) == selected


def test_a_comma_intersects_and_a_space_unites_within_one_selector(read: Manifest) -> None:
    assert names(read, "tag:daily,config.materialized:view") == {"stg_orders"}
    assert names(read, "tag:daily,config.materialized:table") == set()
    assert names(read, "group:finance,access:public") == {"orders"}
    assert names(read, "access:public access:protected") == {"orders", "customers"}
    assert names(read, "config.schema:datalab,resource_type:model version:old") == {
        "orders",
        "customers",
        "orders_v1",
    }


def test_fqn_and_names_never_select_a_source_and_paths_do(read: Manifest) -> None:
    assert names(read, "fqn:raw.orders") == set()
    assert names(read, "orders") == {"orders"}
    assert "raw.orders" in names(read, "resource_type:source")


def test_dbt_airflow_factory_save_points_become_zones_with_one_gateway(read: Manifest) -> None:
    spec = PipelineSpec.model_validate(
        {
            "pipeline": "p",
            "zones": [
                {"name": "datalab_stg", "select": ["config.schema:datalab_stg"]},
                {"name": "datalab", "select": ["config.schema:datalab", "version:old version:prerelease"]},
            ],
        }
    )
    plan = build_plan(spec, read)
    runs = {
        t.node.split(".")[2]: t.zone for t in plan.tasks if t.kind in (TaskKind.RUN, TaskKind.SEED) if t.node
    }
    assert runs == {
        "stg_orders": "datalab_stg",
        "raw_customers": "datalab_stg",
        "orders": "datalab",
        "orders_v1": "datalab",
        "orders_v3": "datalab",
        "customers": "datalab",
    }
    gateways = [t for t in plan.tasks if t.kind is TaskKind.GATEWAY]
    assert [g.zone for g in gateways] == ["datalab_stg", "datalab"]
    assert all(gateways[0].id in t.upstream for t in plan.tasks if t.id.endswith("orders_v1_run"))


SPEC = """\
pipeline: shop
dbt:
  exclude: [test_type:singular, "source:raw"]
zones:
  - name: staging
    select: [config.schema:datalab_stg]
  - name: marts
    select: [SELECTOR]
"""


@pytest.mark.parametrize(
    ("selector", "says"),
    [
        ("tag:daily,+orders", "graph operators (+, @) are not supported here"),
        ("config.schema:datalab 2+orders", "graph operators (+, @) are not supported here"),
        ("config:table", "name the config key, e.g. config.materialized:incremental"),
        ("config.meta:x", "name a key inside meta"),
        ("config.colour:red", "sluice reads config.{materialized, schema"),
        ("group.x:finance", "group takes no '.x'"),
        ("version:newest", "version is one of latest, prerelease, old, none"),
        ("access:open", "access is one of private, protected, public"),
        ("test_type:generic", "selects tests, which follow the models they test"),
        ("tag:x,test_name:unique", "selects tests, which follow the models they test"),
        ("source:raw", "selects dbt sources, which sluice does not build"),
        ("source:a.b.c.d", "write source:name, source:name.table"),
        ("exposure:dashboard", "an exposure is never built"),
        ("metric:revenue", "unknown selector method 'metric'"),
        ("tag:", "is not a selector"),
        ("tag:a,", "is not a selector"),
    ],
)
def test_a_bad_selector_is_one_line_naming_file_line_and_key(
    tmp_path: Path, selector: str, says: str
) -> None:
    text = SPEC.replace("SELECTOR", f'"{selector}"')
    path = tmp_path / "shop.yml"
    path.write_text(text)
    with pytest.raises(SpecErrors) as exc:
        load_spec(path)
    (line,) = [str(e) for e in exc.value.errors]
    assert line.startswith(f"{path}:{line_of(SPEC, 'SELECTOR')}: zones[1].select[0]: "), line
    assert says in line and "\n" not in line, line


def test_tests_and_sources_may_be_left_out_and_sources_not_selected(tmp_path: Path) -> None:
    path = tmp_path / "shop.yml"
    path.write_text(SPEC.replace("SELECTOR", "config.schema:datalab"))
    assert load_spec(path).spec.dbt.exclude == ("test_type:singular", "source:raw")
    text = SPEC.replace("SELECTOR", "config.schema:datalab").replace("exclude:", "select:")
    path.write_text(text)
    with pytest.raises(SpecErrors) as exc:
        load_spec(path)
    (line,) = [str(e) for e in exc.value.errors]
    assert line.startswith(
        f"{path}:{line_of(text, 'source:raw')}: dbt.select[1]: 'source:raw': source: selects"
    )
