"""The DAG sluice renders: its dbt tasks are copies of the first task Airflow's constructor built
in each task group, and they must be exactly what the constructor would have built."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from airflow.sdk import DAG, TaskGroup
from airflow.sdk.exceptions import DuplicateTaskIdFound
from airflow.serialization.serialized_objects import DagSerialization

from sluice.airflow import task_copies
from sluice.airflow.dag_files import load_dags
from sluice.airflow.operators import DbtNodeOperator, SourceFreshnessOperator, ZoneStepOperator, dbt_task
from sluice.airflow.render import render_dag
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import DbtArgs, FreshnessArgs, Outlet, Plan, Task
from sluice.spec.paths import dbt_paths
from sluice.spec.reader import load_spec
from tests.conftest import DEMO_SPEC, REPO


def _demo_dag() -> DAG:
    return load_dags(REPO / "dags" / "pipelines")["payments_daily"]


def _serialized(dag: DAG) -> str:
    return json.dumps(DagSerialization.to_dict(dag), sort_keys=True, default=str)


def _constructed(
    self: Any,
    call: Any,
    name: str,
    group: Any,
    doc_md: str,
    watch: str | None = None,
    scope: Any = None,
    trigger_rule: str | None = None,
) -> DbtNodeOperator:
    rule = {"trigger_rule": trigger_rule} if trigger_rule else {}
    return dbt_task(call, watch, scope, task_id=name, task_group=group, doc_md=doc_md, **rule)


def _recorded(task: DbtNodeOperator) -> dict[str, Any]:
    """What the constructor records of its arguments (partial() and mapping read it), with the
    DAG and task group by name: two renders hold two of each."""
    kwargs = task._BaseOperator__init_kwargs  # type: ignore[attr-defined]
    return {
        k: v.dag_id if isinstance(v, DAG) else v.group_id if isinstance(v, TaskGroup) else v
        for k, v in kwargs.items()
    }


def test_copied_tasks_serialize_exactly_as_constructed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    copied = _demo_dag()
    monkeypatch.setattr(task_copies.TaskCopies, "dbt_task", _constructed)
    constructed = _demo_dag()
    assert sum(isinstance(t, DbtNodeOperator) for t in copied.tasks) > 3 * len(copied.task_group.children)
    assert _serialized(copied) == _serialized(constructed)
    for task in constructed.tasks:
        twin = copied.get_task(task.task_id)
        assert type(twin) is type(task)
        assert twin.task_group.group_id == task.task_group.group_id
        if isinstance(task, DbtNodeOperator):
            assert twin.call == task.call
            assert _recorded(twin) == _recorded(task)
            # each copy's trigger waits for its own nodes, not its prototype's
            assert twin.start_trigger_args == task.start_trigger_args
            assert twin.start_from_trigger and twin.watch == f"{twin.task_group.group_id}.build"


def test_copied_tasks_share_no_mutable_state() -> None:
    """Upstream ids, callbacks, params...: a copy sharing one with its original would wire or
    configure both at once."""
    dag = _demo_dag()
    seen: dict[int, str] = {}
    for task in dag.tasks:
        for attr, value in vars(task).items():
            if isinstance(value, (set, list, dict)) or type(value).__name__ == "ParamsDict":
                assert id(value) not in seen, f"{task.task_id}.{attr} is also {seen[id(value)]}"
                seen[id(value)] = f"{task.task_id}.{attr}"


def _draw(plan: Plan) -> DAG:
    sf = load_spec(DEMO_SPEC)
    return render_dag(sf, plan, dbt_paths(sf))


def _with_task(plan: Plan, task_id: str, **changes: Any) -> Plan:
    tasks = tuple(dataclasses.replace(t, **changes) if t.id == task_id else t for t in plan.tasks)
    return dataclasses.replace(plan, tasks=tasks)


def _last_dbt_task(plan: Plan, zone: str) -> Task:
    """Not the first of its group: a copy, not a constructor-built task."""
    return [t for t in plan.tasks if t.zone == zone and isinstance(t.arguments, DbtArgs)][-1]


def test_the_dag_is_what_the_plan_says() -> None:
    """Render decides nothing: trigger rule, outlets, dbt arguments and docs come from the plan."""
    plan = plan_spec(load_spec(DEMO_SPEC))
    last = _last_dbt_task(plan, "silver")
    changed = _with_task(
        plan,
        "gold.publish",
        trigger_rule="all_done",
        outlets=(Outlet("x-sluice://elsewhere/gold", "elsewhere.gold"),),
    )
    arguments = dataclasses.replace(last.arguments, vars='{"x": 1}', batch=None)  # type: ignore[type-var]
    changed = _with_task(changed, last.id, arguments=arguments, doc="changed doc")
    dag = _draw(changed)
    publish = dag.get_task("gold.publish")
    assert isinstance(publish, ZoneStepOperator)
    assert publish.trigger_rule == "all_done"
    assert [(a.uri, a.name) for a in publish.outlets] == [("x-sluice://elsewhere/gold", "elsewhere.gold")]
    task = dag.get_task(last.id)
    assert isinstance(task, DbtNodeOperator) and task.call is not None
    assert (task.call.vars, task.call.batch, task.doc_md) == ('{"x": 1}', (), "changed doc")
    before = _draw(plan).get_task(last.id)
    assert before.call.vars is None and before.call.batch and before.doc_md != "changed doc"


def test_a_freshness_task_runs_the_plans_dbt_source_freshness() -> None:
    plan = plan_spec(load_spec(DEMO_SPEC))
    (check,) = [t for t in plan.tasks if isinstance(t.arguments, FreshnessArgs)]
    assert isinstance(check.arguments, FreshnessArgs)
    task = _draw(plan).get_task(check.id)
    assert isinstance(task, SourceFreshnessOperator) and task.call is not None
    assert (task.call.command, task.call.select) == ("source freshness", check.arguments.dbt.select)
    assert task.upstream_task_ids == set(check.upstream) and task.doc_md == check.doc


@pytest.mark.parametrize(
    ("bad_name", "error"),
    [("stg accounts_run", ValueError), ("x" * 250, ValueError), ("stg_accounts_test", DuplicateTaskIdFound)],
)
def test_a_copy_is_refused_where_the_constructor_refuses(
    monkeypatch: pytest.MonkeyPatch, bad_name: str, error: type[Exception]
) -> None:
    """A translator may name tasks badly; the fast path must not draw what Airflow would refuse."""
    plan = plan_spec(load_spec(DEMO_SPEC))
    last = _last_dbt_task(plan, "bronze")
    broken = _with_task(plan, last.id, id=f"bronze.{bad_name}")
    with pytest.raises(error) as copied:
        _draw(broken)
    monkeypatch.setattr(task_copies.TaskCopies, "dbt_task", _constructed)
    with pytest.raises(error) as constructed:
        _draw(broken)
    assert type(copied.value) is type(constructed.value)
    assert str(copied.value) == str(constructed.value)


@pytest.mark.parametrize(("server", "links"), [(None, []), ("http://airbyte.internal:8000", ["Airbyte job"])])
def test_a_sync_shows_the_airbyte_job_link_only_where_a_server_runs_it(
    monkeypatch: pytest.MonkeyPatch, server: str | None, links: list[str]
) -> None:
    if server:
        monkeypatch.setenv("AIRBYTE_URL", server)
    sync = _demo_dag().get_task("ingest.payments_raw")
    assert [link.name for link in sync.operator_extra_links] == links
    # the task page's "Extra Links" heading comes from the serialized DAG's links
    encoded = DagSerialization.to_dict(sync.dag)["dag"]["tasks"]
    sync_row = next(t["__var"] for t in encoded if t["__var"]["task_id"] == "ingest.payments_raw")
    assert list(sync_row.get("_operator_extra_links", {})) == links
