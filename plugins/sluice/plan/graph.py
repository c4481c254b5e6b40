"""The dbt nodes a pipeline builds, as a graph: which nodes, in which zone, in which order, and
which tests go with which node. Every check of the manifest against the spec is made here."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sluice.errors import PlanError
from sluice.manifest.reader import Manifest, Node
from sluice.spec.models import PipelineSpec, TestMode, UnassignedPolicy

#: what a node's depends_on may name; one of these the manifest lacks is a broken manifest
_PARENT_TYPES = frozenset({"model", "seed", "snapshot", "source"})
_SHOWN = 10  # offending nodes listed in one error line before "and N more"


def listing(items: list[str]) -> str:
    more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


@dataclass
class NodeGraph:
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


def selection(spec: PipelineSpec, manifest: Manifest) -> Callable[[Node], bool]:
    """Whether the pipeline covers a node: its dbt.select (default: the root project) and not
    its dbt.exclude."""
    index = manifest.index
    select = spec.dbt.select or (f"package:{manifest.project_name}",)
    chosen = set().union(*(index.select(s) for s in select)) - excluded(spec, manifest)

    def selected(node: Node) -> bool:
        return node.unique_id in chosen

    return selected


def excluded(spec: PipelineSpec, manifest: Manifest) -> frozenset[str]:
    return frozenset().union(*(manifest.index.select(s) for s in spec.dbt.exclude))


def assign_zones(
    spec: PipelineSpec, manifest: Manifest, candidates: list[Node]
) -> tuple[dict[str, int], list[str]]:
    """Zone index per buildable node (the first zone that selects it wins), plus warnings."""
    ids = {n.unique_id for n in candidates}
    first_zone: dict[str, int] = {}
    for zi, zone in enumerate(spec.zones):
        for si, selector in enumerate(zone.select):
            hit = manifest.index.select(selector) & ids
            if not hit:
                raise PlanError(
                    f"zones[{zi}].select[{si}]",
                    f"'{selector}' matches no selected dbt node; check the selector "
                    "or the pipeline's dbt.select",
                )
            for uid in hit:
                first_zone.setdefault(uid, zi)
    zone_of: dict[str, int] = {}
    unassigned: list[str] = []
    for node in candidates:
        if node.is_ephemeral:
            continue
        if node.unique_id in first_zone:
            zone_of[node.unique_id] = first_zone[node.unique_id]
        else:
            unassigned.append(node.unique_id)
    warnings: list[str] = []
    if unassigned:
        message = f"{len(unassigned)} node(s) in no zone: " + listing(sorted(unassigned))
        if spec.unassigned is UnassignedPolicy.ERROR:
            raise PlanError("zones", message + "; add a zone selector or set unassigned: warn")
        warnings.append(message + " (left out of the DAG)")
    return zone_of, warnings


def order_nodes(nodes: dict[str, Node], zone_of: dict[str, int], graph: NodeGraph) -> list[str]:
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


def _cycle(stuck: set[str], graph: NodeGraph) -> list[str]:
    """One cycle among nodes that never became ready: each has a parent that is stuck too."""
    path: list[str] = []
    at = min(stuck)
    while at not in path:
        path.append(at)
        at = min(p for p in graph.parents(at)[0] if p in stuck)
    return [*path[path.index(at) :], at]


def check_parents(graph: NodeGraph) -> None:
    if graph.missing:
        raise PlanError(
            "dbt",
            "the manifest names parents it does not hold: "
            + listing(sorted(f"{child} depends on {parent}" for child, parent in set(graph.missing)))
            + "; re-run `dbt parse` so the manifest matches the project",
        )


def zone_violations(spec: PipelineSpec, zone_of: dict[str, int], graph: NodeGraph) -> None:
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
            + listing(sorted(text for _, text in bad))
            + "; move the parent to an earlier zone or the child to a later one",
        )


def attach_tests(
    spec: PipelineSpec,
    manifest: Manifest,
    graph: NodeGraph,
    position: dict[str, int],
    selected: Callable[[Node], bool],
) -> tuple[dict[str, list[Node]], dict[str | None, list[Node]]]:
    """Each test goes to the plan parent that comes last, so it runs after all of its parents;
    a test with no plan parent is grouped by its source (or None) if the pipeline selects it."""
    tests_of: dict[str, list[Node]] = defaultdict(list)
    loose: dict[str | None, list[Node]] = defaultdict(list)
    if spec.tests is TestMode.NONE:
        return tests_of, loose
    left_out = excluded(spec, manifest)
    for test in manifest.nodes.values():
        if test.resource_type != "test" or not test.enabled or test.unique_id in manifest.disabled:
            continue
        if test.unique_id in left_out:
            continue
        plan_parents, source_parents = graph.parents(test.unique_id)
        if plan_parents:
            tests_of[max(plan_parents, key=position.__getitem__)].append(test)
        elif selected(test):
            loose[min(source_parents) if source_parents else None].append(test)
    return tests_of, loose


def checked_sources(
    manifest: Manifest,
    graph: NodeGraph,
    order: list[str],
    zone_of: dict[str, int],
    left_out: frozenset[str] = frozenset(),
) -> tuple[dict[int, list[Node]], list[str]]:
    """Per zone, the sources with a freshness rule its nodes read that no earlier zone checks
    (a later zone waits for the earlier one's check through its gateway) and that dbt.exclude
    does not leave out (``source:x``, as ``dbt source freshness --exclude`` does), plus warnings. dbt
    reads a source's age from its loaded_at_field or loaded_at_query; a rule with neither
    would need warehouse metadata, which not every adapter has, so it is named and not checked."""
    first_reader: dict[str, int] = {}
    for uid in order:
        for read in graph.parents(uid)[1]:
            first_reader.setdefault(read, zone_of[uid])
    zones: dict[int, list[Node]] = defaultdict(list)
    unreadable: list[str] = []
    for uid, zi in sorted(first_reader.items()):
        source = manifest.sources[uid]
        if source.freshness is None or uid in left_out:
            continue
        if source.loaded_at_field or source.loaded_at_query:
            zones[zi].append(source)
        else:
            unreadable.append(uid)
    warnings = []
    if unreadable:
        warnings.append(
            f"{len(unreadable)} source(s) declare freshness but no loaded_at_field or loaded_at_query, "
            "so sluice does not check them: " + listing(unreadable)
        )
    return dict(zones), warnings
