"""The options of a triggered run: the params' schemas, what ``select`` leaves in, and Airflow's
own check of a trigger's values against the params (the one it makes when it creates a run)."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.exceptions import ParamValidationError
from airflow.serialization.serialized_objects import DagSerialization

from sluice.airflow.dag_files import load_dags
from sluice.errors import SluiceError
from sluice.plan.model import Plan, TaskKind
from sluice.plan.run_options import RunScope
from tests.conftest import REPO
from tests.unit.test_atomic_publish import plan_of as atomic_plan
from tests.unit.test_atomic_publish import shop as atomic_shop
from tests.unit.test_plan import plan_of, shop


def running(plan: Plan, select: list[str]) -> set[str]:
    """The plan's dbt tasks that a run with ``select`` runs."""
    scope = RunScope(plan)
    chosen = scope.chosen(select)
    return {t.id for t in plan.tasks if t.select and scope.runs(t.select, chosen)}


def dbt_task_ids(plan: Plan) -> set[str]:
    return {t.id for t in plan.tasks if t.select}


def test_the_plan_knows_each_node_by_name_and_its_parents_across_zones() -> None:
    plan = plan_of(shop())
    assert plan.selectable.names == {
        "mart": ("model.shop.mart",),
        "orders": ("model.shop.orders",),
        "raw_orders": ("seed.shop.raw_orders",),
        "stg_orders": ("model.shop.stg_orders",),
    }
    # orders reads stg_orders through an ephemeral model, in another zone
    assert plan.selectable.parents["model.shop.orders"] == ("model.shop.stg_orders",)
    assert "model.shop.eph" not in plan.selectable.parents


def test_select_runs_the_named_models_and_their_tests_only() -> None:
    plan = plan_of(shop())
    assert running(plan, ["orders"]) == {"silver.orders_run", "silver.orders_test"}
    # a test with parents in two zones goes with the later one (mart)
    assert running(plan, ["stg_orders", "mart"]) == {
        "bronze.stg_orders_run",
        "bronze.stg_orders_test",
        "gold.mart_run",
        "gold.mart_test",
    }


def test_a_plus_adds_everything_downstream_across_zones() -> None:
    plan = plan_of(shop())
    assert running(plan, ["stg_orders+"]) == {
        "bronze.stg_orders_run",
        "bronze.stg_orders_test",
        "silver.orders_run",
        "silver.orders_test",
        "gold.mart_run",
        "gold.mart_test",
    }
    assert running(plan, ["raw_orders+"]) == dbt_task_ids(plan)


def test_no_selection_runs_everything_and_an_unknown_name_is_an_error() -> None:
    plan = plan_of(shop())
    scope = RunScope(plan)
    assert scope.chosen([]) is None and scope.chosen(None) is None
    assert running(plan, []) == dbt_task_ids(plan)
    with pytest.raises(SluiceError, match=r"select: 'nope\+' is not a model, seed or snapshot of pipeline p"):
        scope.chosen(["nope+"])


def test_an_atomic_zone_is_built_whole_or_not_at_all() -> None:
    plan = atomic_plan(atomic_shop())
    scope = RunScope(plan)
    gold = {t.id for t in plan.tasks if t.zone == "gold" and t.select}
    # one gold model selected: the whole zone builds (a publish must not miss a table)
    assert running(plan, ["history"]) == gold
    assert scope.zone_runs("gold", scope.chosen(["history"]))
    # nothing of gold selected: none of it, nor its stage and publish, runs
    assert running(plan, ["stg_orders"]) == {"bronze.stg_orders_run", "bronze.stg_orders_test"}
    assert not scope.zone_runs("gold", scope.chosen(["stg_orders"]))
    # the zone build builds what the selection leaves of the zone
    assert scope.batch(plan.batches["bronze"], scope.chosen(["stg_orders"])) == tuple(
        s for t in plan.tasks if t.id in ("bronze.stg_orders_run", "bronze.stg_orders_test") for s in t.select
    )


def test_tasks_run_past_skipped_upstream_tasks_but_not_past_failed_ones() -> None:
    """A selected model whose parent was left out must still run: its task, the zone's gateway and
    the zone build use Airflow's none_failed (run unless something upstream failed)."""
    plan = atomic_plan(atomic_shop())
    for task in plan.tasks:
        if task.kind in (TaskKind.RUN, TaskKind.SEED, TaskKind.TEST, TaskKind.GATEWAY, TaskKind.BUILD):
            assert task.trigger_rule == "none_failed", task.id
    assert plan.by_id()["gold.publish"].trigger_rule == "all_done_min_one_success"


@pytest.fixture(scope="module")
def demo_params() -> Any:
    """The demo DAG's params as the API server and the scheduler hold them (serialized and read
    back), which is what Airflow checks a trigger's conf against when it creates a run."""
    dag = load_dags(REPO / "dags" / "pipelines")["payments_daily"]
    return DagSerialization.from_dict(DagSerialization.to_dict(dag)).params


def test_the_params_form_offers_the_models_and_their_downstream(demo_params: Any) -> None:
    select = demo_params.get_param("select")
    assert select.schema["title"] and select.description
    picks = select.schema["examples"]
    assert {"customers", "customers+", "raw_accounts", "accounts_snapshot"} <= set(picks)
    assert demo_params.get_param("full_refresh").schema["type"] == "boolean"
    assert demo_params.get_param("vars").schema["type"] == ["object", "null"]
    assert demo_params.validate() == {"full_refresh": False, "select": [], "vars": {}}


@pytest.mark.parametrize(
    "conf",
    [
        {"select": ["customers", "stg_accounts+"], "full_refresh": True, "vars": {"region": "eu"}},
        {"select": None, "vars": None},  # what the form sends for cleared fields
    ],
)
def test_airflow_accepts_the_pipelines_models_and_vars(demo_params: Any, conf: dict[str, Any]) -> None:
    assert demo_params.deep_merge(conf).validate()["select"] == conf["select"]


@pytest.mark.parametrize(
    ("conf", "said"),
    [
        (
            {"select": ["customers", "nosuch"]},
            "Invalid input for param select: 'nosuch' is not",
        ),
        ({"select": ["nosuch+"]}, "Invalid input for param select: 'nosuch+' is not"),
        ({"select": "customers"}, "Invalid input for param select: 'customers' is not of type 'array'"),
        ({"vars": "region=eu"}, "Invalid input for param vars: 'region=eu' is not of type 'object'"),
        ({"vars": {"sluice_staging": []}}, "Invalid input for param vars: 'sluice_staging' should not be"),
        ({"full_refresh": "yes"}, "Invalid input for param full_refresh: 'yes' is not of type 'boolean'"),
    ],
)
def test_airflow_refuses_a_bad_value_naming_the_param_and_the_value(
    demo_params: Any, conf: dict[str, Any], said: str
) -> None:
    with pytest.raises(ParamValidationError) as refused:
        demo_params.deep_merge(conf).validate()
    message = str(refused.value)
    assert message.startswith(said), message
    if "nosuch" in message:
        # the lists of names stay out of the message (5,000 of them in a big project)
        assert "customers" not in message and len(message) < 500, message
