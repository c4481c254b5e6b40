"""Draw a plan as an Airflow DAG: a TaskGroup per zone, a dbt task per plan task, a gateway."""

from __future__ import annotations

import copy
import functools
import json
from collections import defaultdict
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, BaseOperator, TaskGroup
from airflow.sdk.definitions.param import ParamsDict

from sluice.airflow.airbyte_operator import airbyte_sync_task
from sluice.airflow.checks import dag_arguments
from sluice.airflow.operators import DbtNodeOperator, dbt_task, zone_task
from sluice.plan.model import DBT_COMMAND, Plan, Task, TaskKind
from sluice.runtime.dbt import DbtCall, warm_up
from sluice.spec.models import INGEST_GROUP, TestMode
from sluice.spec.paths import DbtPaths
from sluice.spec.reader import SpecFile


def task_doc(task: Task) -> str:
    """Markdown shown on the task's page in the Airflow UI."""
    doc = task.doc
    if task.kind is TaskKind.GATEWAY:
        text = f"**Gateway of zone `{task.zone}`**: later zones start only when every model and "
        text += "every blocking test of this zone has passed."
        return text + (f"\n\n{doc['description']}" if doc.get("description") else "")
    if task.kind is TaskKind.INGEST:
        text = f"**Airbyte sync `{doc.get('connection')}`**: starts the connection's sync and waits for it "
        text += "on the triggerer (no worker slot held); a server when one is configured, else a local run "
        return (
            text
            + "of the connector into the DuckDB raw schema. The first zone starts when every sync has passed."
        )
    if task.kind is TaskKind.STAGE:
        text = f"**Stage of atomic zone `{task.zone}`**: a fresh staging copy of "
        text += ", ".join(f"`{s}`" for s in task.schemas) + " for this run's models and tests."
        return text + ("\n\nCopied from live: " + ", ".join(f"`{k}`" for k in task.keep) if task.keep else "")
    if task.kind is TaskKind.PUBLISH:
        text = f"**Publish of atomic zone `{task.zone}`**: when every model and blocking test passed, "
        text += "swaps the staging copy live in one step; otherwise it says what blocked it, "
        text += "and live stays as it was."
        return text + (f"\n\n{doc['description']}" if doc.get("description") else "")
    if task.kind is TaskKind.TEST:
        rows = "\n".join(f"| `{t['name']}` | {t['severity']} | `{t['file']}` |" for t in doc.get("tests", []))
        lead = f"Tests of `{task.node}`" if task.node else "Tests with no model parent"
        blocking = "blocking" if task.blocking else "warn only: never blocks"
        return f"**{lead}** ({blocking})\n\n| test | severity | file |\n|---|---|---|\n{rows}"
    lines = [f"**{task.node}** ({doc.get('materialized') or task.kind.value})"]
    if doc.get("description"):
        lines.append(str(doc["description"]))
    lines.append(f"File: `{doc.get('file')}`")
    if doc.get("tags"):
        lines.append("Tags: " + ", ".join(f"`{t}`" for t in doc["tags"]))
    return "\n\n".join(lines)


def render_dag(sf: SpecFile, plan: Plan, paths: DbtPaths) -> DAG:
    """The DAG for one spec; task ids are the plan's ids."""
    spec = sf.spec
    dag = DAG(**dag_arguments(sf, plan))
    # every worker flavour the run needs: live, and one per atomic zone's staging build
    flavours = sorted({_staging_vars(t) or "" for t in plan.tasks})
    batches = _zone_batches(spec.tests, plan)
    copies = _Copies(dag)
    with dag:
        groups = {z.name: TaskGroup(z.name, tooltip=z.description or f"zone {z.name}") for z in spec.zones}
        if spec.ingest:
            groups[INGEST_GROUP] = TaskGroup(INGEST_GROUP, tooltip="Airbyte syncs before the first zone")
        ops: dict[str, BaseOperator] = {}
        for task in plan.tasks:
            group = groups[task.zone] if task.zone else None
            if task.kind is TaskKind.GATEWAY:
                ops[task.id] = EmptyOperator(task_id=task.name, task_group=group, doc_md=task_doc(task))
                continue
            if task.kind is TaskKind.INGEST:
                # the live dbt worker parses the project while the sync runs, not after it; the
                # staging workers start with the first dbt task (two parses at once would slow
                # the sync on a small machine)
                first = DbtCall(
                    "run",
                    (),
                    paths.project_dir,
                    paths.profiles_dir,
                    spec.dbt.target,
                    spec.dbt.executable,
                    spec.dbt.execution,
                )
                ops[task.id] = _sync_task(sf, task, group, pre_execute=functools.partial(_warm_up, first))
                continue
            staged = _staging_vars(task)
            call = DbtCall(
                DBT_COMMAND.get(task.kind, "run-operation"),
                task.select,
                paths.project_dir,
                paths.profiles_dir,
                spec.dbt.target,
                spec.dbt.executable,
                spec.dbt.execution,
                staged,
                warm=tuple(f for f in flavours if f != (staged or "")),
                batch=batches.get(task.zone or "", ()) if task.kind in DBT_COMMAND else (),
            )
            kwargs: dict[str, Any] = {"task_id": task.name, "task_group": group, "doc_md": task_doc(task)}
            if task.kind in (TaskKind.STAGE, TaskKind.PUBLISH):
                assert task.zone is not None
                if task.kind is TaskKind.PUBLISH:
                    kwargs["outlets"] = _assets(spec.pipeline, task.zone, plan)
                    kwargs["relations"] = task.relations
                ops[task.id] = zone_task(task.kind.value, task.zone, task.schemas, task.keep, call, **kwargs)
            else:
                ops[task.id] = copies.dbt_task(call, task.name, group, kwargs["doc_md"])
        for task in plan.tasks:
            _link(ops[task.id], [ops[u] for u in task.upstream])
    return dag


class _Copies:
    """DbtNodeOperators made by copying the first one Airflow's constructor built in the same task
    group, with their own task id, doc, dbt call and containers.

    The constructor (default arguments merged, ~60 attribute sets each checked for a converter) is
    ~0.1 ms a task, most of the import of a 10,000-task DAG; a copy is a few microseconds. The
    copies are the tasks the constructor would have built: tests compare the serialized DAGs.
    """

    def __init__(self, dag: DAG) -> None:
        self.dag = dag
        #: per task group, the constructor-built task and which of its attributes hold containers
        self.first: dict[str, tuple[DbtNodeOperator, list[str]]] = {}

    def dbt_task(self, call: DbtCall, name: str, group: TaskGroup | None, doc_md: str) -> DbtNodeOperator:
        key = group.group_id or "" if group else ""
        if key not in self.first:
            proto = dbt_task(call, task_id=name, task_group=group, doc_md=doc_md)
            mutable = (set, list, dict, ParamsDict)
            containers = [k for k, v in proto.__dict__.items() if isinstance(v, mutable)]
            self.first[key] = proto, containers
            return proto
        proto, containers = self.first[key]
        state = proto.__dict__.copy()
        for attr in containers:  # the task's own upstream ids, callbacks, params...
            state[attr] = copy.copy(state[attr])
        task_id = group.child_id(name) if group else name  # type: ignore[no-untyped-call]
        state.update(task_id=task_id, doc_md=doc_md, call=call, _dag=None)
        # what the constructor records of its arguments (mapping and partial() read it back)
        state["_BaseOperator__init_kwargs"].update(task_id=name, doc_md=doc_md)
        op = object.__new__(type(proto))
        op.__dict__.update(state)
        if group is not None:
            op.__dict__["task_group"] = None
            group.add(op)
            op.__dict__["task_group"] = group
        self.dag.add_task(op)
        return op


def _warm_up(call: DbtCall, context: Any) -> None:
    warm_up(call)


def _sync_task(sf: SpecFile, task: Task, group: TaskGroup | None, **extra: Any) -> BaseOperator:
    ingest = sf.spec.ingest
    assert ingest is not None
    options: dict[str, Any] = {
        "poll_interval": ingest.poll_seconds,
        "timeout": timedelta(minutes=ingest.timeout_minutes),
    }
    if ingest.airbyte_conn_id:
        options["airbyte_conn_id"] = ingest.airbyte_conn_id
    return airbyte_sync_task(
        task.name,
        str(task.doc["connection"]),
        (sf.base_dir / ingest.airbyte_config).resolve(),
        task_group=group,
        doc_md=task_doc(task),
        **options,
        **extra,
    )


def _zone_batches(tests: TestMode, plan: Plan) -> dict[str, tuple[str, ...]]:
    """Per zone, the selectors one `dbt build` of it runs. Only where tests gate their model's
    children, as `dbt build` does (it skips what is downstream of a failed test)."""
    if tests is not TestMode.AFTER_MODEL:
        return {}
    out: dict[str, list[str]] = defaultdict(list)
    for task in plan.tasks:
        if task.kind in DBT_COMMAND and task.zone:
            out[task.zone].extend(task.select)
    return {zone: tuple(selectors) for zone, selectors in out.items()}


def _staging_vars(task: Task) -> str | None:
    """dbt --vars of an atomic zone's model and test tasks: build in the staging schemas."""
    return json.dumps({"sluice_staging": list(task.schemas)}) if task.schemas and task.node else None


def _assets(pipeline: str, zone: str, plan: Plan) -> list[Asset]:
    """What a successful publish announces: the zone, and each model it made live; other DAGs
    can be scheduled on them (``schedule=[Asset("x-sluice://payments_daily/gold")]``). The ``x-``
    scheme is Airflow's mark of a custom one: without it every Asset looks up the providers' URI
    normalizers, which imports boto3 and costs ~0.5 s per DAG parse and per task."""
    assets = [Asset(uri=f"x-sluice://{pipeline}/{zone}", name=f"{pipeline}.{zone}")]
    for task in plan.tasks:
        if task.zone == zone and task.node and task.kind in (TaskKind.RUN, TaskKind.SEED, TaskKind.SNAPSHOT):
            model = task.node.split(".", 2)[-1]
            assets.append(
                Asset(uri=f"x-sluice://{pipeline}/{zone}/{model}", name=f"{pipeline}.{zone}.{model}")
            )
    return assets


def _link(op: BaseOperator, upstream: list[BaseOperator]) -> None:
    """What set_upstream does for operators already in one DAG, minus its per-call check that
    hashes the DAG (a walk over all task ids), which makes wiring 10,000 edges quadratic."""
    for parent in upstream:
        parent.downstream_task_ids.add(op.task_id)
        op.upstream_task_ids.add(parent.task_id)
