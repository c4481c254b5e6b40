"""Spec + manifest → plan. Pure Python: every decision that needs no Airflow is made here."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sluice.errors import PlanError
from sluice.manifest.reader import BUILDABLE, Manifest, Node
from sluice.manifest.selector import matches
from sluice.plan.model import Plan, Task, TaskKind
from sluice.plan.translator import Translator
from sluice.spec.models import PipelineSpec, TestMode, UnassignedPolicy

_KIND = {"model": TaskKind.RUN, "seed": TaskKind.SEED, "snapshot": TaskKind.SNAPSHOT}
_SHOWN = 10  # offending nodes listed in one error line before "and N more"


def _listing(items: list[str]) -> str:
    more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


def _doc(node: Node) -> dict[str, object]:
    return {
        "node": node.unique_id,
        "file": node.original_file_path,
        "description": node.description,
        "materialized": node.materialized,
        "tags": list(node.tags),
    }


@dataclass
class _Graph:
    """Dependencies between plan nodes, ephemeral models passed through."""

    manifest: Manifest
    in_plan: set[str]
    memo: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)

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
                if upstream is not None and upstream.is_ephemeral:
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


def _assign_zones(
    spec: PipelineSpec, candidates: list[Node]
) -> tuple[dict[str, int], list[str]]:
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
        stuck = sorted(u for u, n in waiting.items() if n > 0)
        raise PlanError("dbt", "the manifest's dependencies form a cycle through: " + _listing(stuck))
    return order


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
        if n.resource_type in BUILDABLE
        and n.enabled
        and n.unique_id not in manifest.disabled
        and selected(n)
    ]
    zone_of, warnings = _assign_zones(spec, candidates)
    nodes = {uid: manifest.nodes[uid] for uid in zone_of}
    graph = _Graph(manifest, set(zone_of))
    _zone_violations(spec, zone_of, graph)
    order = _order(nodes, zone_of, graph)
    position = {uid: i for i, uid in enumerate(order)}

    # tests, each attached to the plan parent that comes last so it runs after all of them
    tests_of: dict[str, list[Node]] = defaultdict(list)
    loose_tests: dict[str | None, list[Node]] = defaultdict(list)  # by source, or None
    if spec.tests is not TestMode.NONE:
        for test in manifest.nodes.values():
            if test.resource_type != "test" or not test.enabled or test.unique_id in manifest.disabled:
                continue
            if any(matches(test, s) for s in spec.dbt.exclude):
                continue
            plan_parents, source_parents = graph.parents(test.unique_id)
            if plan_parents:
                tests_of[max(plan_parents, key=position.__getitem__)].append(test)
            elif selected(test):
                loose_tests[min(source_parents) if source_parents else None].append(test)

    tr = translator(list(nodes.values()) + [manifest.sources[s] for s in loose_tests if s])
    zones = [z.name for z in spec.zones]
    gateway = [f"{z}.gateway" for z in zones]
    tasks: list[tuple[tuple[int, int, int], Task]] = []
    build_id: dict[str, str] = {}
    ready_id: dict[str, str] = {}  # what a node's children wait for
    zone_members: dict[int, list[str]] = defaultdict(list)

    def test_task(task_id: str, zi: int, node: str | None, tests: list[Node], upstream: set[str]) -> Task:
        blocking = any(t.blocks for t in tests)
        if blocking:
            zone_members[zi].append(task_id)
        return Task(
            id=task_id,
            kind=TaskKind.TEST,
            zone=zones[zi],
            node=node,
            upstream=tuple(sorted(upstream)),
            select=tuple(tr.dbt_selector(t) for t in sorted(tests, key=lambda t: t.unique_id)),
            doc={
                "node": node,
                "tests": [
                    {"name": t.name, "severity": t.severity.lower(), "file": t.original_file_path}
                    for t in sorted(tests, key=lambda t: t.unique_id)
                ],
            },
            blocking=blocking,
        )

    source_gate: dict[str, str] = {}
    for i, (source, tests) in enumerate(sorted(loose_tests.items(), key=lambda kv: kv[0] or "~")):
        if source is not None:
            src = manifest.sources[source]
            name = f"source_{'_'.join(src.fqn[-2:]) if len(src.fqn) >= 2 else src.name}_test"
        else:
            name = "unattached_tests"
        task = test_task(f"{zones[0]}.{name}", 0, source, tests, set())
        tasks.append(((0, -1, i), task))
        if source is not None and task.blocking and spec.tests is TestMode.AFTER_MODEL:
            source_gate[source] = task.id

    for uid in order:
        node, zi = nodes[uid], zone_of[uid]
        plan_parents, source_parents = graph.parents(uid)
        upstream = {ready_id[p] for p in plan_parents if zone_of[p] == zi}
        upstream |= {source_gate[s] for s in source_parents if s in source_gate and zi == 0}
        if not upstream and zi > 0:
            upstream = {gateway[zi - 1]}
        task_id = f"{zones[zi]}.{tr.build_task_name(node)}"
        build_id[uid] = ready_id[uid] = task_id
        zone_members[zi].append(task_id)
        tasks.append(
            (
                (zi, position[uid], 0),
                Task(
                    id=task_id,
                    kind=_KIND[node.resource_type],
                    zone=zones[zi],
                    node=uid,
                    upstream=tuple(sorted(upstream)),
                    select=(tr.dbt_selector(node),),
                    doc=_doc(node),
                ),
            )
        )
        if uid in tests_of:
            tests = tests_of[uid]
            others = {p for t in tests for p in graph.parents(t.unique_id)[0]}
            t_up = {task_id} | {build_id[p] for p in others if zone_of[p] == zi and p != uid}
            task = test_task(f"{zones[zi]}.{tr.test_task_name(node)}", zi, uid, tests, t_up)
            tasks.append(((zi, position[uid], 1), task))
            if task.blocking and spec.tests is TestMode.AFTER_MODEL:
                ready_id[uid] = task.id

    for zi in range(len(zones)):
        upstream = set(zone_members[zi]) | ({gateway[zi - 1]} if zi else set())
        tasks.append(
            (
                (zi, len(order), 0),
                Task(
                    id=gateway[zi],
                    kind=TaskKind.GATEWAY,
                    zone=zones[zi],
                    node=None,
                    upstream=tuple(sorted(upstream)),
                    doc={"zone": zones[zi], "description": spec.zones[zi].description or ""},
                ),
            )
        )
    tasks.sort(key=lambda kt: kt[0])
    return Plan(
        pipeline=spec.pipeline,
        zones=tuple(zones),
        tasks=tuple(t for _, t in tasks),
        warnings=tuple(warnings),
    )
