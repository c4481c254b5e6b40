"""The plan's tasks and edges, collected node by node in run order, each with its operator,
arguments, trigger rule, outlets and docs."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sluice.errors import PlanError
from sluice.manifest.reader import Manifest, Node
from sluice.plan.docs import (
    archive_doc,
    build_doc,
    event_load_doc,
    freshness_doc,
    gateway_doc,
    ingest_doc,
    node_doc,
    publish_doc,
    stage_doc,
    test_doc,
)
from sluice.plan.graph import NodeGraph
from sluice.plan.model import (
    DBT_COMMAND,
    Alerts,
    ArchiveArgs,
    DagSettings,
    DbtArgs,
    EventArgs,
    FreshnessArgs,
    Group,
    IngestArgs,
    Landing,
    Outlet,
    Task,
    TaskKind,
    ZoneArgs,
    ZoneBuildArgs,
)
from sluice.plan.run_options import RUNS_PAST_SKIPPED
from sluice.plan.translator import Translator
from sluice.spec.models import (
    ARCHIVE_GROUP,
    INGEST_GROUP,
    After,
    ExecutionMode,
    Notify,
    PipelineSpec,
    TestMode,
)

_KIND = {"model": TaskKind.RUN, "seed": TaskKind.SEED, "snapshot": TaskKind.SNAPSHOT}
#: Airflow's limit for a task id, its group's prefix included
MAX_TASK_ID = 250


@dataclass
class Assembler:
    """Collects tasks and their edges in the order they will run."""

    spec: PipelineSpec
    tr: Translator
    zones: list[str]
    tasks: list[tuple[tuple[int, int, int], Task]] = field(default_factory=list)
    build_id: dict[str, str] = field(default_factory=dict)
    ready_id: dict[str, str] = field(default_factory=dict)  # what a node's children wait for
    source_gate: dict[str, str] = field(default_factory=dict)
    zone_members: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    #: per zone, the models, seeds and snapshots it builds, in run order
    zone_nodes: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))

    #: per zone, its source freshness task, which every first task of the zone waits for
    freshness: dict[int, str] = field(default_factory=dict)

    schemas: dict[int, tuple[str, ...]] = field(default_factory=dict)  # atomic zones only
    ingest: tuple[str, ...] = ()  # the sync tasks every first task of the first zone waits for
    #: where dbt runs (the spec's, or $SLUICE_DBT_EXECUTION): worker execution adds zone builds
    execution: ExecutionMode = ExecutionMode.WORKER
    taken: set[str] = field(default_factory=set)
    #: every dbt worker flavour the run needs: live (""), and one per atomic zone's staging build
    flavours: list[str] = field(init=False)
    #: per (zone, staged): a dbt task's --vars, warm flavours, batch and zone build task
    dbt_shared: dict[tuple[int, bool], tuple[str | None, tuple[str, ...], str | None, str | None]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self.flavours = sorted({""} | {v for v in map(_staging_vars, self.schemas.values()) if v})

    def task_id(self, zi: int, name: str, key: str) -> str:
        """``zone.name``, unique and within Airflow's length: a name that is too long, or that
        another node's name became when made safe (``v;x`` and ``v'x``), gets a suffix made from
        ``key`` (the node's unique id), so it stays the same from one parse to the next."""
        zone = self.zones[zi]
        full = f"{zone}.{name}"
        if len(full) > MAX_TASK_ID or full in self.taken:
            suffix = "_" + hashlib.sha256(key.encode()).hexdigest()[:8]
            full = f"{zone}.{name[: MAX_TASK_ID - len(zone) - 1 - len(suffix)]}{suffix}"
        if full in self.taken:
            raise PlanError("dbt", f"two dbt nodes would both be task {full}; one of them is {key}")
        self.taken.add(full)
        return full

    def gateway(self, zi: int) -> str:
        """What later zones wait for: the gateway, or the publish task of an atomic zone."""
        return f"{self.zones[zi]}.{'publish' if zi in self.schemas else 'gateway'}"

    def stage(self, zi: int) -> str:
        return f"{self.zones[zi]}.stage"

    def build(self, zi: int) -> str:
        return f"{self.zones[zi]}.build"

    def freshness_check(self, zi: int) -> str:
        return f"{self.zones[zi]}.source_freshness"

    def after_previous(self, zi: int) -> tuple[str, ...]:
        """What a zone starts after: the previous zone's gateway, or the syncs for the first."""
        return (self.gateway(zi - 1),) if zi else self.ingest

    def entry(self, zi: int) -> tuple[str, ...]:
        """What the zone's first tasks wait for: its source freshness task, if it has one."""
        return (self.freshness[zi],) if zi in self.freshness else self.after_previous(zi)

    def gates_children(self, task: Task) -> bool:
        return task.blocking and self.spec.tests is TestMode.AFTER_MODEL

    def dbt_args(self, kind: TaskKind, zi: int, select: tuple[str, ...], staged: bool) -> DbtArgs:
        """A dbt task's command; in an atomic zone it builds in staging, and where tests gate their
        model's children (as `dbt build` does) its first try may be answered by the zone's build:
        in worker execution from the zone build task's published results, in the triggerer."""
        shared = self.dbt_shared.get((zi, staged))
        if shared is None:  # the same for every task of the zone: made once, held once
            staging = _staging_vars(self.schemas.get(zi, ())) if staged else None
            batch = self.zones[zi] if self.spec.tests is TestMode.AFTER_MODEL else None
            watch = self.build(zi) if batch and self.execution is ExecutionMode.WORKER else None
            shared = self.dbt_shared[(zi, staged)] = (staging, self.warm(staging), batch, watch)
        return DbtArgs(DBT_COMMAND[kind], select, *shared)

    def warm(self, staging: str | None) -> tuple[str, ...]:
        return tuple(f for f in self.flavours if f != (staging or ""))

    def test_task(
        self, name: str, zi: int, node: str | None, tests: list[Node], upstream: set[str], staged: bool = True
    ) -> Task:
        tests = sorted(tests, key=lambda t: t.unique_id)
        blocking = any(t.blocks for t in tests)
        select = tuple(self.tr.dbt_selector(t) for t in tests)
        task = Task(
            id=self.task_id(zi, name, f"{node}:tests"),
            kind=TaskKind.TEST,
            zone=self.zones[zi],
            node=node,
            upstream=tuple(sorted(upstream)),
            arguments=self.dbt_args(TaskKind.TEST, zi, select, staged and node is not None),
            trigger_rule=RUNS_PAST_SKIPPED,
            blocking=blocking,
            doc=test_doc(node, tests, blocking),
        )
        if task.blocking:
            self.zone_members[zi].append(task.id)
        return task

    def add_loose_tests(self, manifest: Manifest, loose: dict[str | None, list[Node]]) -> None:
        """Tests of sources (or of nothing) run first in the first zone."""
        for i, (source, tests) in enumerate(sorted(loose.items(), key=lambda kv: kv[0] or "~")):
            name = "unattached_tests"
            if source is not None:
                fqn = manifest.sources[source].fqn
                name = f"source_{'_'.join(fqn[-2:])}_test"
            task = self.test_task(name, 0, source, tests, set(self.entry(0)), staged=False)
            self.tasks.append(((0, -1, i), task))
            if source is not None and self.gates_children(task):
                self.source_gate[source] = task.id

    def add_node(
        self, node: Node, zi: int, pos: int, graph: NodeGraph, zone_of: dict[str, int], tests: list[Node]
    ) -> None:
        uid = node.unique_id
        plan_parents, source_parents = graph.parents(uid)
        upstream = {self.ready_id[p] for p in plan_parents if zone_of[p] == zi}
        if zi == 0:
            upstream |= {self.source_gate[s] for s in source_parents if s in self.source_gate}
        if zi in self.schemas:
            if not any(
                u.startswith(f"{self.zones[zi]}.") and u not in self.source_gate.values() for u in upstream
            ):
                upstream.add(self.stage(zi))
        elif not upstream:
            upstream = set(self.entry(zi))
        kind = _KIND[node.resource_type]
        task = Task(
            id=self.task_id(zi, self.tr.build_task_name(node), uid),
            kind=kind,
            zone=self.zones[zi],
            node=uid,
            upstream=tuple(sorted(upstream)),
            arguments=self.dbt_args(kind, zi, (self.tr.dbt_selector(node),), staged=True),
            trigger_rule=RUNS_PAST_SKIPPED,
            doc=node_doc(node, kind.value),
        )
        self.build_id[uid] = self.ready_id[uid] = task.id
        self.zone_members[zi].append(task.id)
        self.zone_nodes[zi].append(uid)
        self.tasks.append(((zi, pos, 0), task))
        if not tests:
            return
        # other parents of a multi-parent test come earlier; those of this zone are named here,
        # those of earlier zones are already behind the gateway
        others = {p for t in tests for p in graph.parents(t.unique_id)[0]}
        t_up = {task.id} | {self.build_id[p] for p in others if zone_of[p] == zi and p != uid}
        test = self.test_task(self.tr.test_task_name(node), zi, uid, tests, t_up)
        self.tasks.append(((zi, pos, 1), test))
        if self.gates_children(test):
            self.ready_id[uid] = test.id

    def add_ingest(self) -> None:
        ingest = self.spec.ingest
        for i, task_id in enumerate(self.ingest):
            assert ingest is not None
            connection = task_id.split(".", 1)[1]
            if connection in ingest.event_streams:
                self.tasks.append(((-1, i, 0), self.event_task(connection, task_id, ())))
                continue
            arguments = IngestArgs(
                connection=connection,
                config_dir=ingest.airbyte_config,
                poll_seconds=ingest.poll_seconds,
                timeout_minutes=ingest.timeout_minutes,
                conn_id=ingest.airbyte_conn_id,
                # the live dbt worker parses the project while the sync runs, not after it; the
                # staging workers start with the first dbt task (two parses at once would slow
                # the sync on a small machine)
                warm_up=DbtArgs("run"),
            )
            task = Task(
                id=task_id,
                kind=TaskKind.INGEST,
                zone=INGEST_GROUP,
                node=None,
                upstream=(),
                arguments=arguments,
                doc=ingest_doc(connection),
            )
            self.tasks.append(((-1, i, 0), task))

    def event_task(self, stream: str, task_id: str, upstream: tuple[str, ...], archive: bool = False) -> Task:
        ingest = self.spec.ingest
        assert ingest is not None
        args = (ArchiveArgs if archive else EventArgs)(stream, ingest.event_streams_dir, ingest.aws_conn_id)
        return Task(
            id=task_id,
            kind=TaskKind.ARCHIVE if archive else TaskKind.INGEST,
            zone=ARCHIVE_GROUP if archive else INGEST_GROUP,
            node=None,
            upstream=upstream,
            arguments=args,
            doc=archive_doc(stream) if archive else event_load_doc(stream),
        )

    def add_archives(self) -> None:
        """Each event stream's archival, once the run has built every zone from its rows."""
        last = (self.gateway(len(self.zones) - 1),)
        streams = self.spec.ingest.event_streams if self.spec.ingest else ()
        for i, (stream, task_id) in enumerate(zip(streams, archive_task_ids(self.spec), strict=True)):
            self.tasks.append(((len(self.zones), i, 0), self.event_task(stream, task_id, last, archive=True)))

    def add_freshness(self, checked: dict[int, list[Node]]) -> None:
        """One `dbt source freshness` task per zone that reads sources with a freshness rule, in
        the live dbt worker, before anything else of the zone; it is one of the zone's members,
        so an atomic zone's publish names it when it held the zone back."""
        for zi, sources in sorted(checked.items()):
            select = tuple(self.tr.source_selector(s) for s in sources)
            task = Task(
                id=self.freshness_check(zi),
                kind=TaskKind.FRESHNESS,
                zone=self.zones[zi],
                node=None,
                upstream=self.after_previous(zi),
                arguments=FreshnessArgs(DbtArgs("source freshness", select, warm=self.warm(None))),
                doc=freshness_doc(self.zones[zi], sources),
            )
            self.freshness[zi] = task.id
            self.zone_members[zi].append(task.id)
            self.tasks.append(((zi, -3, 0), task))

    def zone_step(
        self, step: str, zi: int, keep: tuple[str, ...] = (), built: tuple[str, ...] = ()
    ) -> ZoneArgs:
        schemas = self.schemas.get(zi, ())
        dbt = DbtArgs("run-operation", warm=self.warm(None))
        return ZoneArgs(step, self.zones[zi], schemas, keep, built, dbt)

    def add_stages(self, keep: dict[int, tuple[str, ...]]) -> None:
        for zi, schemas in self.schemas.items():
            task = Task(
                id=self.stage(zi),
                kind=TaskKind.STAGE,
                zone=self.zones[zi],
                node=None,
                upstream=self.entry(zi),
                arguments=self.zone_step("stage", zi, keep=keep[zi]),
                doc=stage_doc(self.zones[zi], schemas, keep[zi]),
            )
            self.tasks.append(((zi, -2, 0), task))

    def add_builds(self) -> None:
        """One build task per zone whose tasks watch it. It starts with the zone, beside its
        tasks (they wait in the triggerer for its results); only the next zone's build waits for
        it (start_builds_early). A node that fails is shown failed on its own task and fails the
        build; when dbt could not build the zone its tasks learn it and run on a worker. Its
        trigger rule lets it run past a previous build or stage that a run's selection skipped
        (it then tells its tasks they are skipped), not past a failure (a zone whose previous
        zone failed builds nothing), and it has no retries: a retry would build the zone again
        while those tasks run alone."""
        watched = {zi for (zi, _), shared in self.dbt_shared.items() if shared[3]}
        for zi in sorted(watched):
            staging = _staging_vars(self.schemas.get(zi, ()))
            if zi in self.schemas:
                upstream: tuple[str, ...] = (self.stage(zi),)
            else:
                upstream = self.entry(zi)
            zone = self.zones[zi]
            task = Task(
                id=self.build(zi),
                kind=TaskKind.BUILD,
                zone=zone,
                node=None,
                upstream=upstream,
                arguments=ZoneBuildArgs(zone, DbtArgs("build", (), staging, self.warm(staging), zone)),
                # builds (or marks skipped) what a selection leaves of the zone, its stage skipped or not
                trigger_rule=RUNS_PAST_SKIPPED,
                doc=build_doc(zone),
                retries=0,
            )
            self.tasks.append(((zi, -2, 1), task))

    def start_builds_early(self) -> None:
        """A zone's build, and what it waits for (its freshness check, an atomic zone's stage),
        starts when the previous zone's build has built and tested all of that zone, rather than
        when the previous zone's tasks have each reported it from the triggerer: the next zone
        is built while Airflow walks the last one's graph. A build fails when any of its nodes
        did not pass, so nothing starts on a zone that failed; the zone's own model and test
        tasks still wait for the previous gateway, so what Airflow shows keeps the zone order.
        An atomic zone's publish is the step itself: what follows it waits for it."""
        built = {task.zone for _, task in self.tasks if task.kind is TaskKind.BUILD}
        for zi in range(1, len(self.zones)):
            prev = zi - 1
            if self.zones[prev] not in built or prev in self.schemas:
                continue
            gate, early = self.gateway(prev), {self.build(zi), self.stage(zi), self.freshness_check(zi)}
            first = {self.stage(zi), self.freshness_check(zi)}
            for i, (key, task) in enumerate(self.tasks):
                if task.id in early and gate in task.upstream:
                    upstream = {*task.upstream} - {gate} | {self.build(prev)}
                elif task.zone == self.zones[zi] and task.id not in early and first & {*task.upstream}:
                    upstream = {*task.upstream, gate}
                else:
                    continue
                self.tasks[i] = (key, replace(task, upstream=tuple(sorted(upstream))))

    def outlets(self, zi: int) -> tuple[Outlet, ...]:
        """What a successful publish announces: the zone, and each model it made live."""
        pipeline, zone = self.spec.pipeline, self.zones[zi]
        models = (uid.split(".", 2)[-1] for uid in self.zone_nodes[zi])
        return (asset(pipeline, zone), *(asset(pipeline, zone, m) for m in models))

    def add_gateways(self, last: int, built: dict[int, tuple[str, ...]]) -> None:
        for zi, zone in enumerate(self.spec.zones):
            upstream = tuple(sorted(set(self.zone_members[zi]) | ({self.gateway(zi - 1)} if zi else set())))
            if zi in self.schemas:
                task = Task(
                    id=self.gateway(zi),
                    kind=TaskKind.PUBLISH,
                    zone=zone.name,
                    node=None,
                    upstream=upstream,
                    arguments=self.zone_step("publish", zi, built=built.get(zi, ())),
                    # runs once everything upstream is done and something passed: a failed model or
                    # test of the zone gets its report, while a zone that never ran (an earlier zone
                    # failed) is marked upstream_failed like its tasks
                    trigger_rule="all_done_min_one_success",
                    outlets=self.outlets(zi),
                    doc=publish_doc(zone.name, zone.description),
                )
            else:
                task = Task(
                    id=self.gateway(zi),
                    kind=TaskKind.GATEWAY,
                    zone=zone.name,
                    node=None,
                    upstream=upstream,
                    # a run of a few selected models goes on past the zone's skipped tasks
                    trigger_rule=RUNS_PAST_SKIPPED,
                    doc=gateway_doc(zone.name, zone.description),
                )
            self.tasks.append(((zi, last, 0), task))


def _staging_vars(schemas: tuple[str, ...]) -> str | None:
    """dbt --vars of an atomic zone's model and test tasks: build in the staging schemas."""
    return json.dumps({"sluice_staging": list(schemas)}) if schemas else None


def task_groups(spec: PipelineSpec) -> tuple[Group, ...]:
    groups = [Group(z.name, z.description or f"zone {z.name}") for z in spec.zones]
    if spec.ingest and spec.ingest.event_streams:
        groups.append(Group(INGEST_GROUP, "Airbyte syncs and event loads before the first zone"))
        groups.append(Group(ARCHIVE_GROUP, "Event archival after the last zone"))
    elif spec.ingest:
        groups.append(Group(INGEST_GROUP, "Airbyte syncs before the first zone"))
    return tuple(groups)


def ingest_task_ids(spec: PipelineSpec) -> tuple[str, ...]:
    """What the first zone waits for: a task per Airbyte connection, then per event stream."""
    if not spec.ingest:
        return ()
    return tuple(f"{INGEST_GROUP}.{n}" for n in (*spec.ingest.connections, *spec.ingest.event_streams))


def archive_task_ids(spec: PipelineSpec) -> tuple[str, ...]:
    return tuple(f"{ARCHIVE_GROUP}.{s}" for s in (spec.ingest.event_streams if spec.ingest else ()))


def asset(pipeline: str, zone: str, model: str | None = None) -> Outlet:
    """The Asset a publish announces. Its name is its URI, so the plain spelling other DAGs use,
    ``schedule=[Asset("x-sluice://payments_daily/gold")]``, is the same asset: Airflow refuses an
    asset whose URI another asset of a different name already holds. The ``x-`` scheme is
    Airflow's mark of a custom one: without it every Asset looks up the providers' URI
    normalizers, which imports boto3 and costs ~0.5 s per DAG parse and per task."""
    uri = f"x-sluice://{pipeline}/{zone}" + (f"/{model}" if model else "")
    return Outlet(uri, uri)


def alerts(notify: Notify) -> Alerts:
    return Alerts(
        on=tuple(str(o) for o in dict.fromkeys(notify.when)),
        slack_connection=notify.slack.connection if notify.slack else None,
        emails=notify.email,
        sns_topic_arn=notify.sns.topic_arn if notify.sns else None,
        aws_connection=notify.sns.aws_connection if notify.sns else None,
    )


def dag_settings(spec: PipelineSpec) -> DagSettings:
    defaults = spec.defaults
    on_zones = spec.schedule if isinstance(spec.schedule, After) else None
    return DagSettings(
        description=spec.description,
        schedule=None if isinstance(spec.schedule, After) else spec.schedule,
        start_date=spec.start_date.isoformat(),
        catchup=spec.catchup,
        tags=spec.tags,
        max_active_runs=spec.max_active_runs,
        dagrun_timeout_minutes=spec.dagrun_timeout_minutes,
        is_paused_upon_creation=spec.is_paused_upon_creation,
        owner=spec.owner,
        retries=defaults.retries,
        retry_delay_minutes=defaults.retry_delay_minutes,
        execution_timeout_minutes=defaults.execution_timeout_minutes,
        pool=defaults.pool,
        after=tuple(asset(*ref.split(".", 1)).uri for ref in on_zones.after) if on_zones else (),
        alerts=alerts(spec.notify) if spec.notify else None,
        landing=landing(spec),
    )


def landing(spec: PipelineSpec) -> tuple[Landing, ...]:
    """The streams whose S3 notifications start a run. Their Asset is the stream's, not the
    pipeline's: pipelines that load one stream from one queue share one watcher."""
    if not spec.ingest:
        return ()
    return tuple(
        Landing(stream, f"x-sluice-events://{stream}", url, spec.ingest.aws_conn_id)
        for stream, url in sorted(spec.ingest.landing_queues.items())
    )


def zone_batches(tests: TestMode, tasks: Iterable[Task]) -> dict[str, tuple[str, ...]]:
    """Per zone, the selectors one `dbt build` of it runs. Only where tests gate their model's
    children, as `dbt build` does (it skips what is downstream of a failed test)."""
    if tests is not TestMode.AFTER_MODEL:
        return {}
    out: dict[str, list[str]] = defaultdict(list)
    for task in tasks:
        if task.kind in DBT_COMMAND and task.zone:
            out[task.zone].extend(task.select)
    return {zone: tuple(selectors) for zone, selectors in out.items()}
