"""Spec + manifest → plan. Pure Python: every decision that needs no Airflow is made in this
package; this module puts the steps together (graph.py: the nodes; atomic.py: atomic zones;
assembler.py: the tasks)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sluice.manifest.reader import BUILDABLE, Manifest, Node
from sluice.plan.assembler import (
    Assembler,
    archive_task_ids,
    dag_settings,
    ingest_task_ids,
    task_groups,
    zone_batches,
)
from sluice.plan.atomic import atomic_zones
from sluice.plan.graph import (
    NodeGraph,
    assign_zones,
    attach_tests,
    check_parents,
    checked_sources,
    excluded,
    order_nodes,
    selection,
    zone_violations,
)
from sluice.plan.model import DbtInvocation, Plan, Selectable
from sluice.plan.translator import Translator
from sluice.spec.models import ExecutionMode, PipelineSpec


def build_plan(
    spec: PipelineSpec,
    manifest: Manifest,
    translator: Callable[[Iterable[Node]], Translator] = Translator,
    execution: ExecutionMode | None = None,
) -> Plan:
    """Turn a validated spec and a manifest into the task graph; raises PlanError.
    ``execution`` overrides the spec's dbt.execution (the environment's, see plan_spec)."""
    execution = execution or spec.dbt.execution
    selected = selection(spec, manifest)
    candidates = [
        n
        for n in manifest.nodes.values()
        if n.resource_type in BUILDABLE and n.enabled and n.unique_id not in manifest.disabled and selected(n)
    ]
    zone_of, warnings = assign_zones(spec, manifest, candidates)
    nodes = {uid: manifest.nodes[uid] for uid in zone_of}
    graph = NodeGraph(manifest, set(zone_of))
    zone_violations(spec, zone_of, graph)
    order = order_nodes(nodes, zone_of, graph)
    position = {uid: i for i, uid in enumerate(order)}
    tests_of, loose = attach_tests(spec, manifest, graph, position, selected)
    check_parents(graph)
    fresh, freshness_warnings = checked_sources(manifest, graph, order, zone_of, excluded(spec, manifest))

    tr = translator(list(nodes.values()) + [manifest.sources[s] for s in loose if s])
    schemas, keep, built = atomic_zones(spec, manifest, zone_of)
    syncs = ingest_task_ids(spec)
    zones = [z.name for z in spec.zones]
    out = Assembler(spec, tr, zones, schemas=schemas, ingest=syncs, execution=execution)
    out.taken.update(syncs)
    out.taken.update(archive_task_ids(spec))
    out.taken.update(
        id_
        for zi in range(len(spec.zones))
        for id_ in (out.gateway(zi), out.stage(zi), out.build(zi), out.freshness_check(zi))
    )
    out.add_ingest()
    out.add_freshness(fresh)
    out.add_stages(keep)
    out.add_loose_tests(manifest, loose)
    for uid in order:
        out.add_node(nodes[uid], zone_of[uid], position[uid], graph, zone_of, tests_of.get(uid, []))
    out.add_gateways(len(order), built)
    out.add_builds()
    out.add_archives()
    out.start_builds_early()
    out.tasks.sort(key=lambda kt: kt[0])
    tasks = tuple(t for _, t in out.tasks)
    return Plan(
        pipeline=spec.pipeline,
        zones=tuple(out.zones),
        tasks=tasks,
        dag=dag_settings(spec),
        warnings=(*warnings, *freshness_warnings),
        groups=task_groups(spec),
        dbt=DbtInvocation(spec.dbt.target, spec.dbt.executable, str(execution)),
        batches=zone_batches(spec.tests, tasks),
        selectable=selectable(nodes, graph),
    )


def selectable(nodes: dict[str, Node], graph: NodeGraph) -> Selectable:
    """What a run's select option may name: the plan's nodes by name, with their plan parents."""
    names: dict[str, list[str]] = {}
    for uid, node in nodes.items():
        names.setdefault(node.name, []).append(uid)
    parents = {uid: tuple(sorted(p)) for uid in nodes if (p := graph.parents(uid)[0])}
    return Selectable({n: tuple(sorted(u)) for n, u in sorted(names.items())}, parents)
