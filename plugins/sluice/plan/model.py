"""The plan: every task of the DAG and every decision about it, made without Airflow.

`sluice plan --json` prints it; the Airflow layer only maps each task to the operator it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from sluice.plan.codec import rows


class TaskKind(StrEnum):
    """What a task does for the pipeline (the ``kind`` of `sluice plan --json`)."""

    INGEST = "ingest"
    SEED = "seed"
    SNAPSHOT = "snapshot"
    RUN = "run"
    TEST = "test"
    GATEWAY = "gateway"
    #: a zone's one `dbt build` on a worker (worker execution): its model and test tasks are
    #: answered from it in the triggerer, at no worker process each
    BUILD = "build"
    STAGE = "stage"
    PUBLISH = "publish"
    #: `dbt source freshness` of the sources a zone reads, before the zone: warn goes on,
    #: error stops the zone
    FRESHNESS = "freshness"
    #: an event stream's rows past its hot window deleted, where their S3 files are still there
    ARCHIVE = "archive"


#: the dbt sub-command each dbt-backed kind runs
DBT_COMMAND = {
    TaskKind.SEED: "seed",
    TaskKind.SNAPSHOT: "snapshot",
    TaskKind.RUN: "run",
    TaskKind.TEST: "test",
}
#: kinds that build one dbt node: a model, a seed or a snapshot
BUILD_KINDS = frozenset({TaskKind.SEED, TaskKind.SNAPSHOT, TaskKind.RUN})


class Operator(StrEnum):
    """The Airflow operator that draws a task; each has one arguments class below."""

    EMPTY = "empty"
    DBT = "dbt"
    ZONE_STEP = "zone_step"
    ZONE_BUILD = "zone_build"
    AIRBYTE_SYNC = "airbyte_sync"
    SOURCE_FRESHNESS = "source_freshness"
    EVENT_LOAD = "event_load"
    EVENT_ARCHIVE = "event_archive"


@dataclass(frozen=True)
class EmptyArgs:
    """A task that only joins its upstream tasks (a zone's gateway)."""

    operator: ClassVar[Operator] = Operator.EMPTY


@dataclass(frozen=True)
class DbtArgs:
    """One dbt command: what a dbt task runs, and the call behind a zone step or a warm-up."""

    operator: ClassVar[Operator] = Operator.DBT
    command: str
    select: tuple[str, ...] = ()
    #: dbt --vars (JSON): an atomic zone's model and test tasks build in its staging schemas
    vars: str | None = None
    #: the --vars of the pipeline's other dbt workers ("" for none), started ahead of need
    warm: tuple[str, ...] = ()
    #: the zone whose one `dbt build` (selectors in Plan.batches) may answer a first try
    batch: str | None = None
    #: the zone build task (TaskKind.BUILD) whose published node results answer a first try in
    #: the triggerer; None: the task runs on a worker (subprocess execution, or no zone build)
    watch: str | None = None


@dataclass(frozen=True)
class ZoneArgs:
    """An atomic zone's stage step (fresh staging copy) or publish step (swap it live)."""

    operator: ClassVar[Operator] = Operator.ZONE_STEP
    step: str
    zone: str
    #: the zone's schemas (live names)
    schemas: tuple[str, ...]
    #: stage: live relations ("schema.name") copied into staging, which build on history
    keep: tuple[str, ...]
    #: publish: relations ("schema.alias") the zone builds; a staging copy that lacks one is
    #: not this run's and is not published
    relations: tuple[str, ...]
    dbt: DbtArgs


@dataclass(frozen=True)
class ZoneBuildArgs:
    """A zone's one `dbt build`, publishing each node's result as dbt finishes it."""

    operator: ClassVar[Operator] = Operator.ZONE_BUILD
    zone: str
    #: ``build`` over the zone's batch, with the zone's --vars (staging for an atomic zone)
    dbt: DbtArgs


@dataclass(frozen=True)
class FreshnessArgs:
    """`dbt source freshness` of some sources: a stale one past error_after fails the task."""

    operator: ClassVar[Operator] = Operator.SOURCE_FRESHNESS
    #: ``source freshness`` with a ``source:package.source.table`` selector per source
    dbt: DbtArgs


@dataclass(frozen=True)
class IngestArgs:
    """One Airbyte connection's sync."""

    operator: ClassVar[Operator] = Operator.AIRBYTE_SYNC
    connection: str
    #: the Airbyte YAML folder, relative to the spec file (resolved when drawn: plans move)
    config_dir: str
    poll_seconds: float
    timeout_minutes: float
    conn_id: str | None
    #: started in the live dbt worker while the sync runs, so dbt has parsed when it ends
    warm_up: DbtArgs | None


@dataclass(frozen=True)
class EventArgs:
    """One event stream's load (what landed in S3 since the last load) or archival. The stream's
    settings are read from its folder when the task runs, as the Airbyte YAML is."""

    operator: ClassVar[Operator] = Operator.EVENT_LOAD
    stream: str
    #: the event streams folder, relative to the spec file (resolved when drawn: plans move)
    streams_dir: str
    aws_conn_id: str | None


@dataclass(frozen=True)
class ArchiveArgs(EventArgs):
    operator: ClassVar[Operator] = Operator.EVENT_ARCHIVE


Arguments = (
    EmptyArgs | DbtArgs | ZoneArgs | ZoneBuildArgs | FreshnessArgs | IngestArgs | EventArgs | ArchiveArgs
)


@dataclass(frozen=True)
class Outlet:
    """An asset a task announces when it succeeds; other DAGs can be scheduled on it."""

    uri: str
    name: str


@dataclass(frozen=True)
class Task:
    """One Airflow task to be: ``id`` is its full task id (``zone.name``)."""

    id: str
    kind: TaskKind
    zone: str | None
    node: str | None
    upstream: tuple[str, ...]
    arguments: Arguments = EmptyArgs()
    #: Airflow's trigger rule; None for its default (all upstream tasks succeeded)
    trigger_rule: str | None = None
    outlets: tuple[Outlet, ...] = ()
    #: a test task that holds back its children and its zone's gateway
    blocking: bool = True
    #: Markdown shown on the task's page in the Airflow UI
    doc: str = ""
    #: retries of this task; None for the DAG's default
    retries: int | None = None

    @property
    def name(self) -> str:
        """The id inside its zone's TaskGroup."""
        return self.id.split(".", 1)[1] if self.zone else self.id

    @property
    def operator(self) -> Operator:
        return self.arguments.operator

    @property
    def select(self) -> tuple[str, ...]:
        """The dbt selectors the task runs; empty for a task that runs no dbt nodes."""
        return self.arguments.select if isinstance(self.arguments, DbtArgs) else ()


@dataclass(frozen=True)
class Group:
    """A TaskGroup: a zone, or the group of the Airbyte syncs."""

    id: str
    tooltip: str


@dataclass(frozen=True)
class DbtInvocation:
    """How every dbt call of the plan runs. The project and profiles folders are not here: they
    are resolved against the spec file when the DAG is drawn, so a stored plan can move."""

    target: str
    executable: str | None
    execution: str


@dataclass(frozen=True)
class Alerts:
    """Where a pipeline's alerts go, and on what (failure, blocked_publish, success). Only
    connection ids and addresses: the webhook URL and credentials stay in Airflow connections."""

    on: tuple[str, ...]
    slack_connection: str | None
    emails: tuple[str, ...]
    sns_topic_arn: str | None
    aws_connection: str | None


@dataclass(frozen=True)
class Landing:
    """An event stream whose new files start a run: its Asset, watched on an SQS queue."""

    stream: str
    asset: str
    queue_url: str
    aws_conn_id: str | None


@dataclass(frozen=True)
class DagSettings:
    """The DAG's own arguments, and the defaults of its tasks."""

    description: str
    schedule: str | None
    #: ISO date; the DAG starts at its midnight, UTC
    start_date: str
    catchup: bool
    tags: tuple[str, ...]
    max_active_runs: int
    dagrun_timeout_minutes: float | None
    is_paused_upon_creation: bool
    owner: str
    retries: int
    retry_delay_minutes: float
    execution_timeout_minutes: float | None
    pool: str | None
    #: the Assets the DAG is scheduled on (then ``schedule`` is None)
    after: tuple[str, ...] = ()
    alerts: Alerts | None = None
    #: event streams whose landing files start a run, besides the schedule
    landing: tuple[Landing, ...] = ()


@dataclass(frozen=True)
class Selectable:
    """What a run's ``select`` option may name, and what a name's ``+`` reaches
    (sluice.plan.run_options resolves it)."""

    #: per name of a model, seed or snapshot the plan builds, its unique ids (versions share one)
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: per node with parents, the plan nodes it builds from (ephemeral models looked through)
    parents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """A pipeline's task graph, in run order: zones, their tasks and what each task waits for."""

    pipeline: str
    zones: tuple[str, ...]
    tasks: tuple[Task, ...]
    dag: DagSettings
    warnings: tuple[str, ...] = ()
    groups: tuple[Group, ...] = ()
    dbt: DbtInvocation = DbtInvocation("local", None, "worker")
    #: per zone, the selectors of every dbt node in it (see DbtArgs.batch)
    batches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    selectable: Selectable = Selectable()

    def to_json(self) -> dict[str, Any]:
        """What `sluice plan --json` prints: every decision, by name."""
        doc = rows(Plan).readable(self)
        doc["tasks"] = [
            _with_operator(t, task.operator) for t, task in zip(doc["tasks"], self.tasks, strict=True)
        ]
        return doc

    def by_id(self) -> dict[str, Task]:
        return {t.id: t for t in self.tasks}

    def to_dict(self) -> dict[str, Any]:
        """The compiled plan file's form: a task is the list of its field values."""
        codec = rows(Plan)
        return dict(zip(codec.names, codec.encode(self), strict=True))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Raises KeyError, ValueError or TypeError on a malformed plan."""
        codec = rows(Plan)
        plan: Plan = codec.decode([data[name] for name in codec.names])
        return plan


def _with_operator(task: dict[str, Any], operator: Operator) -> dict[str, Any]:
    """The task's keys with its operator named just before its arguments."""
    out: dict[str, Any] = {}
    for key, value in task.items():
        if key == "arguments":
            out["operator"] = operator.value
        out[key] = value
    return out
