"""The fast way to build many dbt tasks: copy the first one Airflow's constructor built.

The constructor (default arguments merged, ~60 attribute sets each checked for a converter) is
~0.1 ms a task, most of the import of a 10,000-task DAG; a copy is a few microseconds. The copies
are the tasks the constructor would have built, and are refused where it would refuse them:
tests/unit/test_render.py compares the two, serialized DAGs and id checks alike.
"""

from __future__ import annotations

import copy

from airflow.sdk import DAG, TaskGroup
from airflow.sdk.definitions._internal.node import validate_key
from airflow.sdk.definitions.param import ParamsDict

from sluice.airflow.operators import DbtNodeOperator, dbt_task, watching
from sluice.plan.run_options import RunScope
from sluice.runtime.dbt import DbtCall


class TaskCopies:
    """DbtNodeOperators made by copying the first one Airflow's constructor built in the same task
    group, with their own task id, doc, dbt call and containers."""

    def __init__(self, dag: DAG) -> None:
        self.dag = dag
        #: per task group, watched zone build and trigger rule, the constructor-built task and which
        #: of its attributes hold containers
        self.first: dict[tuple[str, str | None, str | None], tuple[DbtNodeOperator, list[str]]] = {}

    def dbt_task(
        self,
        call: DbtCall,
        name: str,
        group: TaskGroup | None,
        doc_md: str,
        watch: str | None = None,
        scope: RunScope | None = None,
        trigger_rule: str | None = None,
    ) -> DbtNodeOperator:
        key = (group.group_id or "" if group else "", watch, trigger_rule)
        if key not in self.first:
            rule = {"trigger_rule": trigger_rule} if trigger_rule else {}
            proto = dbt_task(call, watch, scope, task_id=name, task_group=group, doc_md=doc_md, **rule)
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
            group.add(op)  # refuses a task id the group holds already, as the constructor does
            op.__dict__["task_group"] = group
        validate_key(task_id)  # the constructor's check of the id's length and characters
        self.dag.add_task(op)
        return watching(op, watch)  # the trigger's arguments name this task's own nodes
