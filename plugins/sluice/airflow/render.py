"""Draw a plan as an Airflow DAG: one operator per plan task, of the kind and with the arguments
the plan gives it. Nothing is decided here; `sluice plan --json` shows all of it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, BaseOperator, TaskGroup

from sluice.airflow.airbyte_operator import airbyte_sync_task
from sluice.airflow.checks import dag_arguments, params
from sluice.airflow.event_operators import event_task
from sluice.airflow.operators import dbt_task, freshness_task, zone_build_task, zone_task
from sluice.airflow.task_copies import TaskCopies
from sluice.plan.model import (
    DbtArgs,
    EventArgs,
    FreshnessArgs,
    IngestArgs,
    Operator,
    Plan,
    Task,
    ZoneArgs,
    ZoneBuildArgs,
)
from sluice.plan.run_options import RunScope
from sluice.runtime.dbt import DbtCall, warm_up
from sluice.spec.models import ExecutionMode
from sluice.spec.paths import DbtPaths
from sluice.spec.reader import SpecFile


def render_dag(sf: SpecFile, plan: Plan, paths: DbtPaths) -> DAG:
    """The DAG for one spec; task ids are the plan's ids."""
    dag = DAG(**dag_arguments(sf, plan))
    drawing = _Drawing(plan, paths, sf.base_dir, TaskCopies(dag), RunScope(plan))
    with dag:
        groups = {g.id: TaskGroup(g.id, tooltip=g.tooltip) for g in plan.groups}
        ops: dict[str, BaseOperator] = {}
        for task in plan.tasks:
            group = groups[task.zone] if task.zone else None
            ops[task.id] = _BUILDERS[task.operator](drawing, task, group)
        for task in plan.tasks:
            _link(ops[task.id], [ops[u] for u in task.upstream])
    dag.params = params(plan)  # type: ignore[assignment]  # after the tasks: see checks.params
    return dag


@dataclass(frozen=True)
class _Drawing:
    """What every operator builder reads besides its task: the plan, and where things are."""

    plan: Plan
    paths: DbtPaths
    base_dir: Path
    copies: TaskCopies
    #: what a run's select option leaves in, shared by the tasks that ask
    scope: RunScope

    def call(self, args: DbtArgs) -> DbtCall:
        dbt = self.plan.dbt
        return DbtCall(
            args.command,
            args.select,
            self.paths.project_dir,
            self.paths.profiles_dir,
            dbt.target,
            dbt.executable,
            ExecutionMode(dbt.execution),
            args.vars,
            warm=args.warm,
            batch=self.plan.batches[args.batch] if args.batch else (),
            manifest=self.paths.manifest,
        )


def _common(task: Task, group: TaskGroup | None) -> dict[str, Any]:
    """BaseOperator's arguments, as the plan gives them."""
    kwargs: dict[str, Any] = {"task_id": task.name, "task_group": group, "doc_md": task.doc}
    if task.trigger_rule:
        kwargs["trigger_rule"] = task.trigger_rule
    if task.outlets:
        kwargs["outlets"] = [Asset(uri=o.uri, name=o.name) for o in task.outlets]
    if task.retries is not None:
        kwargs["retries"] = task.retries
    return kwargs


def _empty(drawing: _Drawing, task: Task, group: TaskGroup | None) -> BaseOperator:
    return EmptyOperator(**_common(task, group))


def _dbt(drawing: _Drawing, task: Task, group: TaskGroup | None) -> BaseOperator:
    assert isinstance(task.arguments, DbtArgs)
    call, watch = drawing.call(task.arguments), task.arguments.watch
    if task.outlets or task.retries is not None:  # the copies share their first's
        return dbt_task(call, watch, drawing.scope, **_common(task, group))
    return drawing.copies.dbt_task(call, task.name, group, task.doc, watch, drawing.scope, task.trigger_rule)


def _zone_build(drawing: _Drawing, task: Task, group: TaskGroup | None) -> BaseOperator:
    args = task.arguments
    assert isinstance(args, ZoneBuildArgs)
    return zone_build_task(drawing.call(args.dbt), drawing.scope, **_common(task, group))


def _freshness(drawing: _Drawing, task: Task, group: TaskGroup | None) -> BaseOperator:
    args = task.arguments
    assert isinstance(args, FreshnessArgs)
    return freshness_task(drawing.call(args.dbt), **_common(task, group))


def _zone_step(drawing: _Drawing, task: Task, group: TaskGroup | None) -> BaseOperator:
    args = task.arguments
    assert isinstance(args, ZoneArgs)
    call = drawing.call(args.dbt)
    return zone_task(
        args.step,
        args.zone,
        args.schemas,
        args.keep,
        call,
        relations=args.relations,
        scope=drawing.scope,
        **_common(task, group),
    )


def _warm_up(call: DbtCall, context: Any) -> None:
    warm_up(call)


def _airbyte_sync(drawing: _Drawing, task: Task, group: TaskGroup | None) -> BaseOperator:
    args = task.arguments
    assert isinstance(args, IngestArgs)
    options: dict[str, Any] = {
        "poll_interval": args.poll_seconds,
        "timeout": timedelta(minutes=args.timeout_minutes),
    }
    if args.conn_id:
        options["airbyte_conn_id"] = args.conn_id
    if args.warm_up:
        options["pre_execute"] = functools.partial(_warm_up, drawing.call(args.warm_up))
    kwargs = _common(task, group)
    op = airbyte_sync_task(
        kwargs.pop("task_id"),
        args.connection,
        (drawing.base_dir / args.config_dir).resolve(),
        **kwargs,
        **options,
    )
    op.lineage_call = drawing.call(DbtArgs("run"))
    return op


def _event(drawing: _Drawing, task: Task, group: TaskGroup | None) -> BaseOperator:
    args = task.arguments
    assert isinstance(args, EventArgs)
    return event_task(
        args.stream,
        (drawing.base_dir / args.streams_dir).resolve(),
        args.aws_conn_id,
        task.operator is Operator.EVENT_ARCHIVE,
        drawing.paths.project_dir,
        drawing.paths.profiles_dir,
        drawing.plan.dbt.target,
        **_common(task, group),
    )


#: the one place an operator kind becomes an Airflow operator
_BUILDERS: dict[Operator, Callable[[_Drawing, Task, TaskGroup | None], BaseOperator]] = {
    Operator.EMPTY: _empty,
    Operator.DBT: _dbt,
    Operator.ZONE_STEP: _zone_step,
    Operator.ZONE_BUILD: _zone_build,
    Operator.AIRBYTE_SYNC: _airbyte_sync,
    Operator.SOURCE_FRESHNESS: _freshness,
    Operator.EVENT_LOAD: _event,
    Operator.EVENT_ARCHIVE: _event,
}


def _link(op: BaseOperator, upstream: list[BaseOperator]) -> None:
    """What set_upstream does for operators already in one DAG, minus its per-call check that
    hashes the DAG (a walk over all task ids), which makes wiring 10,000 edges quadratic."""
    for parent in upstream:
        parent.downstream_task_ids.add(op.task_id)
        op.upstream_task_ids.add(parent.task_id)
