"""The plan: tasks and edges decided without Airflow, printed by `sluice plan --json`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TaskKind(StrEnum):
    INGEST = "ingest"
    SEED = "seed"
    SNAPSHOT = "snapshot"
    RUN = "run"
    TEST = "test"
    GATEWAY = "gateway"
    STAGE = "stage"
    PUBLISH = "publish"


#: the dbt sub-command each dbt-backed kind runs
DBT_COMMAND = {
    TaskKind.SEED: "seed",
    TaskKind.SNAPSHOT: "snapshot",
    TaskKind.RUN: "run",
    TaskKind.TEST: "test",
}


@dataclass(frozen=True)
class Task:
    """One Airflow task to be: ``id`` is its full task id (``zone.name``)."""

    id: str
    kind: TaskKind
    zone: str | None
    node: str | None
    upstream: tuple[str, ...]
    #: dbt selectors the task runs (``fqn:...``); empty for gateways
    select: tuple[str, ...] = ()
    #: task docs: description, file, materialization, tests carried
    doc: dict[str, Any] = field(default_factory=dict, compare=False)
    #: a test task that holds back its children and its zone's gateway
    blocking: bool = True
    #: an atomic zone's schemas (live names): its dbt tasks build them in staging, its stage
    #: task prepares them and its publish task swaps them live
    schemas: tuple[str, ...] = ()
    #: stage task: live relations ("schema.name") copied into staging, which build on history
    keep: tuple[str, ...] = ()
    #: publish task: relations ("schema.alias") the zone's models, seeds and snapshots build;
    #: a staging copy that lacks one is not this run's and is not published
    relations: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The id inside its zone's TaskGroup."""
        return self.id.split(".", 1)[1] if self.zone else self.id


@dataclass(frozen=True)
class Plan:
    pipeline: str
    zones: tuple[str, ...]
    tasks: tuple[Task, ...]
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "zones": list(self.zones),
            "tasks": [
                {
                    "id": t.id,
                    "kind": t.kind.value,
                    "zone": t.zone,
                    "node": t.node,
                    "upstream": list(t.upstream),
                }
                for t in self.tasks
            ],
            "warnings": list(self.warnings),
        }

    def by_id(self) -> dict[str, Task]:
        return {t.id: t for t in self.tasks}

    def to_dict(self) -> dict[str, Any]:
        """Everything the Airflow layer needs, for the compiled plan file."""
        return {
            "pipeline": self.pipeline,
            "zones": list(self.zones),
            "warnings": list(self.warnings),
            "tasks": [
                [
                    t.id,
                    t.kind.value,
                    t.zone,
                    t.node,
                    list(t.upstream),
                    list(t.select),
                    t.doc,
                    t.blocking,
                    list(t.schemas),
                    list(t.keep),
                    list(t.relations),
                ]
                for t in self.tasks
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Raises KeyError, ValueError or TypeError on a malformed plan."""
        # by dict: TaskKind(value) goes through EnumType.__call__, slow for 10,000 tasks
        kinds = {k.value: k for k in TaskKind}
        return cls(
            pipeline=data["pipeline"],
            zones=tuple(data["zones"]),
            warnings=tuple(data["warnings"]),
            tasks=tuple(
                Task(
                    tid,
                    kinds[kind],
                    zone,
                    node,
                    tuple(up),
                    tuple(sel),
                    doc,
                    blocking,
                    tuple(sc),
                    tuple(kp),
                    tuple(rel),
                )
                for tid, kind, zone, node, up, sel, doc, blocking, sc, kp, rel in data["tasks"]
            ),
        )
