"""Spec + manifest → plan. Pure Python: every decision that needs no Airflow is made here."""

from __future__ import annotations

import hashlib
import heapq
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sluice.errors import PlanError
from sluice.manifest.reader import BUILDABLE, Manifest, Node
from sluice.manifest.selector import matches
from sluice.plan.docs import gateway_doc, ingest_doc, node_doc, publish_doc, stage_doc, test_doc
from sluice.plan.model import (
    DBT_COMMAND,
    DagSettings,
    DbtArgs,
    DbtInvocation,
    Group,
    IngestArgs,
    Outlet,
    Plan,
    Task,
    TaskKind,
    ZoneArgs,
)
from sluice.plan.translator import Translator
from sluice.spec.models import INGEST_GROUP, PipelineSpec, PublishMode, TestMode, UnassignedPolicy

_KIND = {"model": TaskKind.RUN, "seed": TaskKind.SEED, "snapshot": TaskKind.SNAPSHOT}
#: what a node's depends_on may name; one of these the manifest lacks is a broken manifest
_PARENT_TYPES = frozenset({"model", "seed", "snapshot", "source"})
_SHOWN = 10  # offending nodes listed in one error line before "and N more"
#: Airflow's limit for a task id, its group's prefix included
MAX_TASK_ID = 250


def _listing(items: list[str]) -> str:
    more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


@dataclass
class _Graph:
    """Dependencies between plan nodes, ephemeral models passed through."""

    manifest: Manifest
    in_plan: set[str]
    memo: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    #: (child, parent) where the parent is a node the manifest does not hold
    missing: list[tuple[str, str]] = field(default_factory=list)

    def parents(self, uid: str) -> tuple[frozenset[str], frozenset[str]]:
        """(plan parents, source parents) of a node, looking through ephemeral models."""
        if uid in self.memo:
            return self.memo[uid]
        self.memo[uid] = (frozenset(), frozenset())  # a manifest cycle must not recurse forever
        plan: set[str] = set()
        sources: set[str] = set()
        node = self.manifest.nodes.get(uid)
        for parent in node.depends_on if node else ():
            if parent in self.in_plan:
                plan.add(parent)
            elif parent in self.manifest.sources:
                sources.add(parent)
            else:
                upstream = self.manifest.nodes.get(parent)
                if upstream is None and parent.split(".", 1)[0] in _PARENT_TYPES:
                    self.missing.append((uid, parent))
                elif upstream is not None and upstream.is_ephemeral:
                    more_plan, more_sources = self.parents(parent)
                    plan |= more_plan
                    sources |= more_sources
        self.memo[uid] = (frozenset(plan), frozenset(sources))
        return self.memo[uid]


def _selection(spec: PipelineSpec, manifest: Manifest) -> Callable[[Node], bool]:
    select = spec.dbt.select or (f"package:{manifest.project_name}",)
    exclude = spec.dbt.exclude

    def selected(node: Node) -> bool:
        return any(matches(node, s) for s in select) and not any(matches(node, s) for s in exclude)

    return selected


def _assign_zones(spec: PipelineSpec, candidates: list[Node]) -> tuple[dict[str, int], list[str]]:
    """Zone index per buildable node (the first zone that selects it wins), plus warnings."""
    zone_of: dict[str, int] = {}
    hits_per_selector: dict[tuple[int, int], int] = defaultdict(int)
    unassigned: list[str] = []
    for node in candidates:
        zones_hit: list[int] = []
        for zi, zone in enumerate(spec.zones):
            hit = False
            for si, selector in enumerate(zone.select):
                if matches(node, selector):
                    hits_per_selector[(zi, si)] += 1
                    hit = True
            if hit:
                zones_hit.append(zi)
        if node.is_ephemeral:
            continue
        if zones_hit:
            zone_of[node.unique_id] = zones_hit[0]
        else:
            unassigned.append(node.unique_id)
    for zi, zone in enumerate(spec.zones):
        for si, selector in enumerate(zone.select):
            if not hits_per_selector[(zi, si)]:
                raise PlanError(
                    f"zones[{zi}].select[{si}]",
                    f"'{selector}' matches no selected dbt node; check the selector "
                    "or the pipeline's dbt.select",
                )
    warnings: list[str] = []
    if unassigned:
        message = f"{len(unassigned)} node(s) in no zone: " + _listing(sorted(unassigned))
        if spec.unassigned is UnassignedPolicy.ERROR:
            raise PlanError("zones", message + "; add a zone selector or set unassigned: warn")
        warnings.append(message + " (left out of the DAG)")
    return zone_of, warnings


def _order(nodes: dict[str, Node], zone_of: dict[str, int], graph: _Graph) -> list[str]:
    """Topological order of plan nodes, earlier zones first, then by name for stable output."""
    children: dict[str, list[str]] = defaultdict(list)
    waiting: dict[str, int] = {}
    for uid in nodes:
        parents = graph.parents(uid)[0]
        waiting[uid] = len(parents)
        for parent in parents:
            children[parent].append(uid)
    ready = [(zone_of[u], nodes[u].name, u) for u, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, _, uid = heapq.heappop(ready)
        order.append(uid)
        for child in children[uid]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (zone_of[child], nodes[child].name, child))
    if len(order) != len(nodes):
        stuck = {u for u, n in waiting.items() if n > 0}
        cycle = _cycle(stuck, graph)
        raise PlanError(
            f"zones[{min(zone_of[u] for u in cycle)}].select",
            "the dbt nodes of this zone depend on each other in a cycle: "
            + " -> ".join(cycle)
            + "; re-run `dbt parse` (dbt refuses a cycle) or fix the manifest",
        )
    return order


def _cycle(stuck: set[str], graph: _Graph) -> list[str]:
    """One cycle among nodes that never became ready: each has a parent that is stuck too."""
    path: list[str] = []
    at = min(stuck)
    while at not in path:
        path.append(at)
        at = min(p for p in graph.parents(at)[0] if p in stuck)
    return [*path[path.index(at) :], at]


def _check_parents(graph: _Graph) -> None:
    if graph.missing:
        raise PlanError(
            "dbt",
            "the manifest names parents it does not hold: "
            + _listing(sorted(f"{child} depends on {parent}" for child, parent in set(graph.missing)))
            + "; re-run `dbt parse` so the manifest matches the project",
        )


def _zone_violations(spec: PipelineSpec, zone_of: dict[str, int], graph: _Graph) -> None:
    bad: list[tuple[int, str]] = []
    for uid, zi in zone_of.items():
        for parent in graph.parents(uid)[0]:
            if zone_of[parent] > zi:
                bad.append(
                    (
                        zi,
                        f"{uid} ({spec.zones[zi].name}) depends on "
                        f"{parent} ({spec.zones[zone_of[parent]].name})",
                    )
                )
    if bad:
        first = min(zi for zi, _ in bad)
        raise PlanError(
            f"zones[{first}].select",
            "a model may not depend on a model of a later zone: "
            + _listing(sorted(text for _, text in bad))
            + "; move the parent to an earlier zone or the child to a later one",
        )


def _attach_tests(
    spec: PipelineSpec,
    manifest: Manifest,
    graph: _Graph,
    position: dict[str, int],
    selected: Callable[[Node], bool],
) -> tuple[dict[str, list[Node]], dict[str | None, list[Node]]]:
    """Each test goes to the plan parent that comes last, so it runs after all of its parents;
    a test with no plan parent is grouped by its source (or None) if the pipeline selects it."""
    tests_of: dict[str, list[Node]] = defaultdict(list)
    loose: dict[str | None, list[Node]] = defaultdict(list)
    if spec.tests is TestMode.NONE:
        return tests_of, loose
    for test in manifest.nodes.values():
        if test.resource_type != "test" or not test.enabled or test.unique_id in manifest.disabled:
            continue
        if any(matches(test, s) for s in spec.dbt.exclude):
            continue
        plan_parents, source_parents = graph.parents(test.unique_id)
        if plan_parents:
            tests_of[max(plan_parents, key=position.__getitem__)].append(test)
        elif selected(test):
            loose[min(source_parents) if source_parents else None].append(test)
    return tests_of, loose


@dataclass
class _Assembler:
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

    schemas: dict[int, tuple[str, ...]] = field(default_factory=dict)  # atomic zones only
    ingest: tuple[str, ...] = ()  # the sync tasks every first task of the first zone waits for
    taken: set[str] = field(default_factory=set)
    #: every dbt worker flavour the run needs: live (""), and one per atomic zone's staging build
    flavours: list[str] = field(init=False)
    #: per (zone, staged): a dbt task's --vars, warm flavours and batch
    dbt_shared: dict[tuple[int, bool], tuple[str | None, tuple[str, ...], str | None]] = field(
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

    def gates_children(self, task: Task) -> bool:
        return task.blocking and self.spec.tests is TestMode.AFTER_MODEL

    def dbt_args(self, kind: TaskKind, zi: int, select: tuple[str, ...], staged: bool) -> DbtArgs:
        """A dbt task's command; in an atomic zone it builds in staging, and where tests gate their
        model's children (as `dbt build` does) its first try may be answered by the zone's build."""
        shared = self.dbt_shared.get((zi, staged))
        if shared is None:  # the same for every task of the zone: made once, held once
            staging = _staging_vars(self.schemas.get(zi, ())) if staged else None
            batch = self.zones[zi] if self.spec.tests is TestMode.AFTER_MODEL else None
            shared = self.dbt_shared[(zi, staged)] = (staging, self.warm(staging), batch)
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
            task = self.test_task(name, 0, source, tests, set(self.ingest), staged=False)
            self.tasks.append(((0, -1, i), task))
            if source is not None and self.gates_children(task):
                self.source_gate[source] = task.id

    def add_node(
        self, node: Node, zi: int, pos: int, graph: _Graph, zone_of: dict[str, int], tests: list[Node]
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
            upstream = {self.gateway(zi - 1)} if zi else set(self.ingest)
        kind = _KIND[node.resource_type]
        task = Task(
            id=self.task_id(zi, self.tr.build_task_name(node), uid),
            kind=kind,
            zone=self.zones[zi],
            node=uid,
            upstream=tuple(sorted(upstream)),
            arguments=self.dbt_args(kind, zi, (self.tr.dbt_selector(node),), staged=True),
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
                upstream=(self.gateway(zi - 1),) if zi else self.ingest,
                arguments=self.zone_step("stage", zi, keep=keep[zi]),
                doc=stage_doc(self.zones[zi], schemas, keep[zi]),
            )
            self.tasks.append(((zi, -2, 0), task))

    def outlets(self, zi: int) -> tuple[Outlet, ...]:
        """What a successful publish announces: the zone, and each model it made live; other DAGs
        can be scheduled on them (``schedule=[Asset("x-sluice://payments_daily/gold")]``). The
        ``x-`` scheme is Airflow's mark of a custom one: without it every Asset looks up the
        providers' URI normalizers, which imports boto3 and costs ~0.5 s per DAG parse and per task."""
        pipeline, zone = self.spec.pipeline, self.zones[zi]
        out = [Outlet(f"x-sluice://{pipeline}/{zone}", f"{pipeline}.{zone}")]
        for uid in self.zone_nodes[zi]:
            model = uid.split(".", 2)[-1]
            out.append(Outlet(f"x-sluice://{pipeline}/{zone}/{model}", f"{pipeline}.{zone}.{model}"))
        return tuple(out)

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
                    doc=gateway_doc(zone.name, zone.description),
                )
            self.tasks.append(((zi, last, 0), task))


def _staging_vars(schemas: tuple[str, ...]) -> str | None:
    """dbt --vars of an atomic zone's model and test tasks: build in the staging schemas."""
    return json.dumps({"sluice_staging": list(schemas)}) if schemas else None


def _groups(spec: PipelineSpec) -> tuple[Group, ...]:
    groups = [Group(z.name, z.description or f"zone {z.name}") for z in spec.zones]
    if spec.ingest:
        groups.append(Group(INGEST_GROUP, "Airbyte syncs before the first zone"))
    return tuple(groups)


def _dag_settings(spec: PipelineSpec) -> DagSettings:
    defaults = spec.defaults
    return DagSettings(
        description=spec.description,
        schedule=spec.schedule,
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
    )


def _batches(tests: TestMode, tasks: Iterable[Task]) -> dict[str, tuple[str, ...]]:
    """Per zone, the selectors one `dbt build` of it runs. Only where tests gate their model's
    children, as `dbt build` does (it skips what is downstream of a failed test)."""
    if tests is not TestMode.AFTER_MODEL:
        return {}
    out: dict[str, list[str]] = defaultdict(list)
    for task in tasks:
        if task.kind in DBT_COMMAND and task.zone:
            out[task.zone].extend(task.select)
    return {zone: tuple(selectors) for zone, selectors in out.items()}


def _atomic_zones(
    spec: PipelineSpec, manifest: Manifest, zone_of: dict[str, int]
) -> tuple[dict[int, tuple[str, ...]], dict[int, tuple[str, ...]], dict[int, tuple[str, ...]]]:
    """Per atomic zone: the schemas it owns, its relations that build on their own history
    (incremental models, snapshots), and all the relations it builds. A schema shared with
    anything outside the zone would be swapped along with it, so that is an error."""
    atomic = [zi for zi, z in enumerate(spec.zones) if z.publish is PublishMode.ATOMIC]
    if not atomic:
        return {}, {}, {}
    calls = manifest.macro_calls
    missing = [m for m in ("sluice_describe", "sluice_run_sql", "sluice_query") if m not in calls]
    if missing or "sluice_schema" not in calls.get("generate_schema_name", frozenset()):
        raise PlanError(
            f"zones[{atomic[0]}].publish",
            "atomic publish needs the sluice macros in the dbt project (copy dbt/macros/sluice) "
            "and a generate_schema_name that ends with sluice_schema(...)",
        )
    schemas: dict[int, tuple[str, ...]] = {}
    keep: dict[int, tuple[str, ...]] = {}
    built: dict[int, tuple[str, ...]] = {}
    for zi in atomic:
        members = [manifest.nodes[u] for u, z in zone_of.items() if z == zi]
        owned = {n.schema for n in members if n.schema}
        strangers = sorted(
            f"{n.unique_id} (schema {n.schema})"
            for n in manifest.nodes.values()
            if n.schema in owned
            and n.resource_type in BUILDABLE
            and not n.is_ephemeral
            and n.enabled
            and zone_of.get(n.unique_id) != zi
        )
        if strangers:
            raise PlanError(
                f"zones[{zi}].publish",
                f"atomic zone '{spec.zones[zi].name}' must own its schemas, but these nodes outside it "
                f"build there too: {_listing(strangers)}; give the zone schemas of its own",
            )
        schemas[zi] = tuple(sorted(owned))
        keep[zi] = tuple(
            sorted(
                f"{n.schema}.{n.alias}"
                for n in members
                if n.materialized in ("incremental", "snapshot") or n.resource_type == "snapshot"
            )
        )
        built[zi] = tuple(sorted(f"{n.schema}.{n.alias}" for n in members))
    return schemas, keep, built


def build_plan(
    spec: PipelineSpec,
    manifest: Manifest,
    translator: Callable[[Iterable[Node]], Translator] = Translator,
) -> Plan:
    """Turn a validated spec and a manifest into the task graph; raises PlanError."""
    selected = _selection(spec, manifest)
    candidates = [
        n
        for n in manifest.nodes.values()
        if n.resource_type in BUILDABLE and n.enabled and n.unique_id not in manifest.disabled and selected(n)
    ]
    zone_of, warnings = _assign_zones(spec, candidates)
    nodes = {uid: manifest.nodes[uid] for uid in zone_of}
    graph = _Graph(manifest, set(zone_of))
    _zone_violations(spec, zone_of, graph)
    order = _order(nodes, zone_of, graph)
    position = {uid: i for i, uid in enumerate(order)}
    tests_of, loose = _attach_tests(spec, manifest, graph, position, selected)
    _check_parents(graph)

    tr = translator(list(nodes.values()) + [manifest.sources[s] for s in loose if s])
    schemas, keep, built = _atomic_zones(spec, manifest, zone_of)
    syncs = tuple(f"{INGEST_GROUP}.{c}" for c in spec.ingest.connections) if spec.ingest else ()
    out = _Assembler(spec, tr, [z.name for z in spec.zones], schemas=schemas, ingest=syncs)
    out.taken.update(syncs)
    out.taken.update(id_ for zi in range(len(spec.zones)) for id_ in (out.gateway(zi), out.stage(zi)))
    out.add_ingest()
    out.add_stages(keep)
    out.add_loose_tests(manifest, loose)
    for uid in order:
        out.add_node(nodes[uid], zone_of[uid], position[uid], graph, zone_of, tests_of.get(uid, []))
    out.add_gateways(len(order), built)
    out.tasks.sort(key=lambda kt: kt[0])
    tasks = tuple(t for _, t in out.tasks)
    return Plan(
        pipeline=spec.pipeline,
        zones=tuple(out.zones),
        tasks=tasks,
        dag=_dag_settings(spec),
        warnings=tuple(warnings),
        groups=_groups(spec),
        dbt=DbtInvocation(spec.dbt.target, spec.dbt.executable, spec.dbt.execution),
        batches=_batches(spec.tests, tasks),
    )
