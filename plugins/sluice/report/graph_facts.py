"""What the plan's node graph alone says: which models feed nothing anyone reads (dead), which
hold up most of the pipeline (descendants, betweenness), which have no test, and the longest
path through the zones for given node durations. No Airflow import."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

from sluice.manifest.reader import BUILDABLE, Manifest
from sluice.plan.graph import NodeGraph
from sluice.plan.model import BUILD_KINDS, Plan, TaskKind

#: the graph node standing for a zone's gateway: every node of the next zone waits for it
_GATE = "gateway:"


@dataclass(frozen=True)
class PipelineGraph:
    """The nodes a plan builds (models, seeds, snapshots) and what reads them."""

    graph: nx.DiGraph
    zones: tuple[str, ...]
    #: plan nodes an exposure reads
    exposed: frozenset[str]
    #: plan nodes something outside the pipeline reads: a model the pipeline does not build, or a
    #: node the caller names as read from outside the project
    outside: frozenset[str]
    #: plan models with no test task
    untested: frozenset[str]

    def zone_of(self, uid: str) -> str:
        return str(self.graph.nodes[uid]["zone"])

    def name_of(self, uid: str) -> str:
        return str(self.graph.nodes[uid]["name"])

    def models(self) -> list[str]:
        return sorted(u for u, kind in self.graph.nodes(data="kind") if kind == TaskKind.RUN)


def pipeline_graph(plan: Plan, manifest: Manifest, consumed: Iterable[str] = ()) -> PipelineGraph:
    """The plan's build nodes as a graph. ``consumed`` are dbt selectors of models read outside
    the project (a BI tool with no exposure, another team's project)."""
    graph: nx.DiGraph = nx.DiGraph()
    tested: set[str] = set()
    for task in plan.tasks:
        if task.kind in BUILD_KINDS and task.node:
            node = manifest.nodes.get(task.node)
            graph.add_node(task.node, zone=task.zone, kind=task.kind, name=node.name if node else task.node)
        elif task.kind is TaskKind.TEST and task.node:
            tested.add(task.node)
    for child, parents in plan.selectable.parents.items():
        graph.add_edges_from((parent, child) for parent in parents if parent in graph and child in graph)
    in_plan = set(graph.nodes)
    looked_through = NodeGraph(manifest, in_plan)

    def read(depends_on: Iterable[str]) -> set[str]:
        hit: set[str] = set()
        for uid in depends_on:
            if uid in in_plan:
                hit.add(uid)
            elif (node := manifest.nodes.get(uid)) is not None and node.is_ephemeral:
                hit |= looked_through.parents(uid)[0]
        return hit

    exposed = read(p for e in manifest.exposures.values() if e.enabled for p in e.depends_on)
    outside = read(
        p
        for n in manifest.nodes.values()
        if n.resource_type in BUILDABLE and n.unique_id not in in_plan and n.enabled and not n.is_ephemeral
        for p in n.depends_on
    )
    for selector in consumed:
        outside |= manifest.index.select(selector) & in_plan
    models = {u for u, kind in graph.nodes(data="kind") if kind == TaskKind.RUN}
    return PipelineGraph(
        graph, plan.zones, frozenset(exposed), frozenset(outside), frozenset(models - tested)
    )


def dead_models(pg: PipelineGraph) -> list[str]:
    """Models from which no path leads to an exposure or to a reader outside the pipeline."""
    alive: set[str] = set(pg.exposed | pg.outside)
    for uid in pg.exposed | pg.outside:
        alive |= nx.ancestors(pg.graph, uid)
    return [uid for uid in pg.models() if uid not in alive]


@dataclass(frozen=True)
class Centrality:
    node: str
    descendants: int
    betweenness: float


def centrality(pg: PipelineGraph) -> list[Centrality]:
    """Every node with how many nodes build after it and how many shortest paths pass through
    it (networkx's normalised betweenness), the most delaying first."""
    between = nx.betweenness_centrality(pg.graph, normalized=True)
    found = [Centrality(uid, len(nx.descendants(pg.graph, uid)), between[uid]) for uid in pg.graph]
    return sorted(found, key=lambda c: (-c.descendants, -c.betweenness, c.node))


def critical_path(pg: PipelineGraph, seconds: Mapping[str, float]) -> tuple[list[str], float]:
    """The chain of nodes whose durations add up to the longest wait, and that wait. A zone
    starts only when the zone before it is done (its gateway), so the path crosses each zone's
    gateway; a node without a duration counts 0 s."""
    timed: nx.DiGraph = pg.graph.copy()
    for i, zone in enumerate(pg.zones):
        members = [u for u, z in pg.graph.nodes(data="zone") if z == zone]
        gate = _GATE + zone
        timed.add_node(gate)
        timed.add_edges_from((u, gate) for u in members)
        if i + 1 < len(pg.zones):
            later = [u for u, z in pg.graph.nodes(data="zone") if z == pg.zones[i + 1]]
            timed.add_edges_from((gate, u) for u in later)
    finish: dict[str, float] = {}
    came_from: dict[str, str | None] = {}
    for uid in nx.lexicographical_topological_sort(timed):
        before = max(timed.predecessors(uid), key=lambda p: (finish[p], p), default=None)
        finish[uid] = (finish[before] if before else 0.0) + float(seconds.get(uid, 0.0))
        came_from[uid] = before
    if not finish:
        return [], 0.0
    at: str | None = max(finish, key=lambda u: (finish[u], not u.startswith(_GATE), u))
    total = finish[str(at)]
    path: list[str] = []
    while at is not None:
        if not at.startswith(_GATE):
            path.append(at)
        at = came_from[at]
    return path[::-1], total
