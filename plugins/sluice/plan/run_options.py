"""What a run can be asked for when it is triggered: ``full_refresh``, ``select`` and ``vars``
(Airflow params, a form in the trigger dialog). Their schemas and what ``select`` means are
decided here, without Airflow.

Airflow checks a trigger's values against these JSON schemas when it creates the run (the REST
API answers 400, ``airflow dags test -c`` fails), so a name that is not one of the pipeline's
models is refused before any task starts. An unknown name in ``select`` fails through an
``anyOf`` of two ``$ref``: jsonschema then reports the item and the two names of the lists, not
the lists themselves, which for a project of 5,000 models would fill the message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sluice.errors import SluiceError
from sluice.plan.model import BUILD_KINDS, DBT_COMMAND, Plan, TaskKind

FULL_REFRESH, SELECT, VARS = "full_refresh", "select", "vars"
#: after a name in ``select``: the node and everything downstream of it in the pipeline
DOWNSTREAM = "+"
#: the dbt vars sluice sets itself (an atomic zone's staging schemas) start with this; a trigger
#: that set one could send a staging build into the live schemas
RESERVED_VARS = "sluice_"
#: Airflow's trigger rule of the tasks a selection may leave out, and of what follows them: run
#: unless something upstream failed, whether the rest ran or was skipped
RUNS_PAST_SKIPPED = "none_failed"
_NAMES, _NAMES_DOWN = "dbt_node_of_this_pipeline", "dbt_node_of_this_pipeline_and_downstream"


def param_schemas(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each param's default and JSON schema (with the form's title and description), for the
    pipeline whose models, seeds and snapshots are ``names``."""
    ordered = sorted(names)
    return {
        FULL_REFRESH: {
            "default": False,
            "type": "boolean",
            "title": "Full refresh",
            "description": "Rebuild incremental models from scratch and reload seeds "
            "(dbt --full-refresh on every dbt call of the run).",
        },
        SELECT: {
            "default": [],
            # null: the form sends it when the pick list is cleared
            "type": ["array", "null"],
            "title": "Select models",
            "description": "Build only these models, seeds or snapshots; a name ending in + also "
            "builds everything downstream of it. The other tasks are skipped. Empty: everything. "
            "An atomic zone is built whole when any of its models is selected.",
            "items": {"type": "string", "anyOf": [{"$ref": f"#/$defs/{n}"} for n in (_NAMES, _NAMES_DOWN)]},
            # the form's pick list
            "examples": [choice for name in ordered for choice in (name, name + DOWNSTREAM)],
            "$defs": {_NAMES: {"enum": ordered}, _NAMES_DOWN: {"enum": [n + DOWNSTREAM for n in ordered]}},
        },
        VARS: {
            "default": {},
            "type": ["object", "null"],
            "title": "dbt vars",
            "description": "Merged into every dbt call's --vars, over the run's data_interval_start "
            f"and data_interval_end where they share a key. Names that start with {RESERVED_VARS} "
            "are sluice's own.",
            "propertyNames": {"not": {"pattern": f"^{RESERVED_VARS}"}},
        },
    }


class RunScope:
    """Which of a plan's tasks a run's ``select`` leaves in. Built when the DAG is drawn, its
    lookups made on first use, in a task (a DAG parse pays nothing for them)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._owner: dict[str, tuple[str | None, str]] | None = None
        self._zone_nodes: dict[str, set[str]] = defaultdict(set)
        self._children: dict[str, list[str]] = defaultdict(list)
        self._atomic: set[str] = set()
        self._memo: dict[tuple[str, ...], frozenset[str]] = {}

    def __repr__(self) -> str:
        return f"RunScope({self.plan.pipeline})"

    def _lookups(self) -> dict[str, tuple[str | None, str]]:
        if self._owner is None:
            owner: dict[str, tuple[str | None, str]] = {}
            for task in self.plan.tasks:
                if task.kind is TaskKind.STAGE and task.zone:
                    self._atomic.add(task.zone)
                if task.kind in DBT_COMMAND and task.zone:
                    for selector in task.select:
                        owner[selector] = (task.node, task.zone)
                    if task.kind in BUILD_KINDS and task.node:
                        self._zone_nodes[task.zone].add(task.node)
            for child, parents in self.plan.selectable.parents.items():
                for parent in parents:
                    self._children[parent].append(child)
            self._owner = owner
        return self._owner

    def chosen(self, select: Sequence[str] | None) -> frozenset[str] | None:
        """The unique ids of the nodes a run builds; None for all of them (no selection).
        Raises SluiceError for a name that is not the pipeline's (a run made without Airflow's
        check of its params)."""
        if not select:
            return None
        key = tuple(select)
        if key not in self._memo:
            self._memo[key] = self._resolve(key)
        return self._memo[key]

    def _resolve(self, select: tuple[str, ...]) -> frozenset[str]:
        self._lookups()
        names = self.plan.selectable.names
        picked: set[str] = set()
        for item in select:
            name = item.removesuffix(DOWNSTREAM)
            if name not in names:
                raise SluiceError(
                    f"params: {SELECT}: '{item}' is not a model, seed or snapshot of pipeline "
                    f"{self.plan.pipeline}; pick one from the trigger form's list"
                )
            found = list(names[name])
            if item.endswith(DOWNSTREAM):
                found = self._downstream(found)
            picked.update(found)
        for zone in self._atomic:  # an atomic zone goes live whole, so it is built whole
            if picked & self._zone_nodes[zone]:
                picked |= self._zone_nodes[zone]
        return frozenset(picked)

    def _downstream(self, start: list[str]) -> list[str]:
        seen = set(start)
        todo = list(start)
        while todo:
            for child in self._children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return list(seen)

    def runs(self, selectors: Sequence[str], chosen: frozenset[str] | None) -> bool:
        """Whether a dbt task over ``selectors`` runs: its node (a test task's model) is chosen;
        in an atomic zone, any node of the zone is. Tests of sources run in full runs only."""
        if chosen is None:
            return True
        owner = self._lookups()
        for selector in selectors:
            node, zone = owner.get(selector, (None, ""))
            if (zone in self._atomic and self.zone_runs(zone, chosen)) or node in chosen:
                return True
        return False

    def zone_runs(self, zone: str, chosen: frozenset[str] | None) -> bool:
        """Whether a zone builds anything in this run (an atomic zone's stage and publish)."""
        self._lookups()
        return chosen is None or bool(chosen & self._zone_nodes[zone])

    def batch(self, selectors: Sequence[str], chosen: frozenset[str] | None) -> tuple[str, ...]:
        """The part of a zone build's ``selectors`` this run builds."""
        if chosen is None:
            return tuple(selectors)
        return tuple(s for s in selectors if self.runs((s,), chosen))


def run_values(params: Mapping[str, Any]) -> tuple[bool, list[str], dict[str, Any]]:
    """(full_refresh, select, vars) from a run's params; a form's cleared field (null) is the
    default."""
    return bool(params.get(FULL_REFRESH)), list(params.get(SELECT) or []), dict(params.get(VARS) or {})
