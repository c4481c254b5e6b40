"""dbt-airflow-factory's ``save_points`` as zones.

The factory puts a gateway between the models built into one schema and those built into the
next (the schema a node is built into, the manifest's ``schema``). Each save point becomes a
zone in the listed order. A model in none of those schemas ran ungated in the factory; here it
joins the earliest zone its parents allow, so it still starts as soon as they are built.

A zone selects its schema with dbt's ``config.schema:<name>`` when that selects exactly the
models built there (the schema config names the built schema, as with a generate_schema_name
that uses it as written); else by the schema configs those models have, when those select
exactly them (``stg`` built as ``datalab_stg``); else it names the models one by one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from sluice.manifest.reader import Manifest, Node

BUILT = ("model", "seed", "snapshot")


@dataclass
class Zones:
    """Zones in build order as (name, selectors), and what the reader should know."""

    zones: list[tuple[str, list[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def identifier(raw: str, fallback: str) -> str:
    """``raw`` as a sluice name: letters, digits and _, starting with a letter."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_") or fallback
    return name if name[0].isalpha() else f"{fallback}_{name}"


def _nodes(manifest: Manifest) -> dict[str, Node]:
    """What a pipeline builds by default: the root project's enabled models, seeds, snapshots."""
    return {
        uid: n
        for uid, n in manifest.nodes.items()
        if n.resource_type in BUILT
        and n.enabled
        and uid not in manifest.disabled
        and n.package_name == manifest.project_name
        and not n.is_ephemeral
    }


def _zone_of(nodes: dict[str, Node], manifest: Manifest, fixed: dict[str, int]) -> dict[str, int]:
    """Each node's zone: a save point's own, else the latest of its parents' (0 with none)."""
    zone: dict[str, int] = {}

    def parents(uid: str, seen: set[str]) -> list[str]:
        found = []
        for parent in manifest.nodes[uid].depends_on if uid in manifest.nodes else ():
            if parent in nodes:
                found.append(parent)
            elif parent in manifest.nodes and parent not in seen:  # through ephemeral models
                seen.add(parent)
                found += parents(parent, seen)
        return found

    def visit(uid: str, path: set[str]) -> int:
        if uid in zone:
            return zone[uid]
        if uid in fixed:
            zone[uid] = fixed[uid]
            return fixed[uid]
        path.add(uid)  # a manifest cycle must not recurse forever; `sluice validate` names it
        zone[uid] = max((visit(p, path) for p in parents(uid, set()) if p not in path), default=0)
        return zone[uid]

    for uid in sorted(nodes):
        visit(uid, set())
    return zone


def _selectors(members: list[Node], schema_of: dict[str, set[str]], zone_members: set[str]) -> list[str]:
    """dbt's config.schema selectors that select exactly ``members``, else their names."""
    configured = {n.config.schema for n in members}
    if None not in configured and all(schema_of[str(c)] <= zone_members for c in configured):
        return [f"config.schema:{c}" for c in sorted(str(c) for c in configured)]
    return sorted("fqn:" + ".".join(n.fqn) for n in members)


def save_point_zones(save_points: list[str], manifest: Manifest) -> Zones:
    """One zone per save point, every model of the root project in one of them."""
    out = Zones()
    nodes = _nodes(manifest)
    fixed = {uid: save_points.index(n.schema) for uid, n in nodes.items() if n.schema in save_points}
    for schema in save_points:
        if schema not in {n.schema for n in nodes.values()}:
            out.notes.append(
                f"save point '{schema}': no model is built into this schema; its zone selects none"
            )
    zone = _zone_of(nodes, manifest, fixed)
    by_config: dict[str, set[str]] = defaultdict(set)
    for uid, n in nodes.items():
        if n.config.schema is not None:
            by_config[n.config.schema].add(uid)
    names: set[str] = set()
    for zi, schema in enumerate(save_points):
        name = identifier(schema, "zone")[:64]
        while name in names:
            name = f"{name[:60]}_{zi}"
        names.add(name)
        in_zone = {uid for uid, z in zone.items() if z == zi}
        # the save point's own schema first, then the ungated models that join it, by schema
        groups: dict[str | None, list[Node]] = defaultdict(list)
        for uid in sorted(in_zone):
            groups[nodes[uid].schema].append(nodes[uid])
        selectors: list[str] = []
        for built in sorted(groups, key=lambda s: (s != schema, s or "")):
            picked = _selectors(groups[built], by_config, {n.unique_id for n in groups[built]})
            selectors += [s for s in picked if s not in selectors]
            if picked and picked[0].startswith("fqn:"):
                out.notes.append(
                    f"schema '{built}': its {len(groups[built])} model(s) have no schema config that "
                    f"selects exactly them (the target's default schema, or one shared with other "
                    f"schemas), so zone {name} names them one by one"
                )
            if built != schema:
                out.notes.append(
                    f"schema '{built}' is no save point: the factory ran its models ungated; "
                    f"here they join zone {name}, the first their parents allow"
                )
        out.zones.append((name, selectors or [f"config.schema:{schema}"]))
    return out
