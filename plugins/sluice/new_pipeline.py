"""`sluice new NAME`: a first spec for a dbt project, with zones proposed from its folders.

Most projects already separate their layers by folder (staging, intermediate, marts). Each
folder under a model path becomes a zone candidate; the candidates are ordered so that no model
depends on a later zone (folders that depend on each other both ways become one zone), and seeds
and snapshots join the zone that reads them.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sluice.errors import ManifestError
from sluice.manifest.reader import Manifest, Node
from sluice.spec.models import check_selector
from sluice.spec.selectors import parse

BUILT = ("model", "seed", "snapshot")
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:/.\-]*$")
# where a folder's name suggests it sits in the usual layering, when the graph leaves a choice
_LAYER = {
    "staging": 0, "stg": 0, "base": 0, "bronze": 0, "raw": 0, "sources": 0, "landing": 0,
    "intermediate": 1, "int": 1, "silver": 1, "core": 1, "transform": 1,
    "marts": 2, "mart": 2, "gold": 2, "reporting": 2, "analytics": 2, "presentation": 2,
}  # fmt: skip


@dataclass
class Group:
    """Nodes of one folder, and the selectors that name them."""

    name: str
    selectors: list[str] = field(default_factory=list)
    only_seeds_or_snapshots: bool = True

    @property
    def layer(self) -> float:
        return _LAYER.get(self.name.split("_")[-1].lower(), 1)


def _group_of(node: Node) -> tuple[str, str, str]:
    """(group key, group name, selector) of a model, seed or snapshot."""
    parts = node.original_file_path.replace("\\", "/").split("/")
    if node.resource_type == "model" and len(parts) > 2:
        folder = "/".join(parts[:2])
        return folder, parts[1], f"path:{folder}"
    if node.resource_type == "model":  # a file at the root of a model path
        return parts[0], parts[0], f"path:{node.original_file_path}"
    return parts[0], parts[0], f"path:{parts[0]}"


def _selectable(selector: str) -> bool:
    """A folder's selector names it alone (a comma or a space in its name would make dbt read
    an intersection or a union)."""
    try:
        check_selector(selector)
    except ValueError:
        return False
    return len(parse(selector)) == 1 and len(parse(selector)[0]) == 1


def _condense(keys: list[str], edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of ``keys`` (Tarjan), each a list of keys."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # iterative: a project of thousands of folders must not reach Python's recursion limit
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            key, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[key] = min(low[key], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[key])
            if low[key] == index[key]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == key:
                        break
                found.append(sorted(component))

    for key in keys:
        if key not in index:
            visit(key)
    return found


def _identifier(raw: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_") or "zone"
    return name if name[0].isalpha() else f"z_{name}"


def propose_zones(manifest: Manifest) -> list[tuple[str, list[str]]]:
    """Zones in build order as (name, selectors): every model, seed and snapshot of the
    manifest is selected by exactly one zone, and no node depends on a node of a later zone."""
    groups: dict[str, Group] = {}
    owner: dict[str, str] = {}
    for node in sorted(manifest.nodes.values(), key=lambda n: n.original_file_path):
        # a pipeline covers the root project's nodes unless its spec selects others
        if node.resource_type not in BUILT or not node.enabled or node.package_name != manifest.project_name:
            continue
        key, name, selector = _group_of(node)
        if not _selectable(selector):  # a folder name with a space: name its models instead
            selector = node.name
        group = groups.setdefault(key, Group(name))
        if selector not in group.selectors:
            group.selectors.append(selector)
        group.only_seeds_or_snapshots &= node.resource_type != "model"
        owner[node.unique_id] = key
    if not groups:
        raise ManifestError(f"{manifest.path}: no models, seeds or snapshots to put in zones")
    after: dict[str, set[str]] = defaultdict(set)  # key -> keys that depend on it
    for uid, key in owner.items():
        for dep in manifest.nodes[uid].depends_on:
            if dep in owner and owner[dep] != key:
                after[owner[dep]].add(key)
    components = _condense(sorted(groups), after)
    of = {key: i for i, members in enumerate(components) for key in members}
    needs: dict[int, set[int]] = defaultdict(set)  # component -> components it reads
    for key, later in after.items():
        for k in later:
            if of[k] != of[key]:
                needs[of[k]].add(of[key])
    order = _topological(components, needs, groups)
    return _merge_seeds_and_snapshots([[groups[k] for k in components[i]] for i in order])


def _topological(
    components: list[list[str]], needs: Mapping[int, set[int]], groups: Mapping[str, Group]
) -> list[int]:
    """Components in dependency order; where the graph leaves a choice, the usual layer first."""

    def rank(i: int) -> tuple[float, str]:
        members = [groups[k] for k in components[i]]
        return (min(g.layer for g in members), components[i][0])

    waiting = {i: set(needs.get(i, ())) for i in range(len(components))}
    order: list[int] = []
    while waiting:
        ready = sorted((i for i, deps in waiting.items() if not deps), key=rank)
        chosen = ready[0]  # the graph is condensed, so something is always ready
        order.append(chosen)
        del waiting[chosen]
        for deps in waiting.values():
            deps.discard(chosen)
    return order


def _merge_seeds_and_snapshots(zones: list[list[Group]]) -> list[tuple[str, list[str]]]:
    """Seeds and snapshots join the next zone (the one that reads them), or the previous zone
    when they come last: merging adjacent zones of a topological order keeps it one."""
    merged: list[list[Group]] = []
    carry: list[Group] = []
    for members in zones:
        if all(g.only_seeds_or_snapshots for g in members):
            carry.extend(members)
            continue
        merged.append(carry + members)
        carry = []
    if carry:
        if merged:
            merged[-1].extend(carry)
        else:
            merged.append(carry)
    named: list[tuple[str, list[str]]] = []
    taken: set[str] = set()
    for members in merged:
        models = [g for g in members if not g.only_seeds_or_snapshots] or members
        name = _identifier("_".join(g.name for g in models))[:64]
        while name in taken:
            name = f"{name[:60]}_{len(taken)}"
        taken.add(name)
        named.append((name, [s for g in members for s in g.selectors]))
    return named


def _quoted(values: Iterable[str]) -> str:
    """A YAML flow list; a selector with characters YAML reads specially is a JSON string."""
    return "[" + ", ".join(v if _PLAIN.match(v) else json.dumps(v) for v in values) + "]"


def spec_text(
    name: str,
    zones: list[tuple[str, list[str]]],
    project_dir: str,
    airbyte: tuple[str, str] | None,
) -> str:
    """The spec's YAML, relative paths from the spec's folder."""
    lines = [
        "# yaml-language-server: $schema=spec.schema.json",
        f"# Written by `sluice new {name}`: zones proposed from the dbt project's folders, in",
        "# build order. Rename them, move selectors, or set `publish: atomic` on a zone whose",
        "# tables must go live together; `sluice validate` checks every change.",
        f"pipeline: {name}",
        "owner: data-platform",
        'schedule: "@daily"',
        "start_date: 2026-01-01",
        "catchup: false",
        "",
        "dbt:",
        f"  project_dir: {project_dir}",
        "  target: local",
    ]
    if airbyte:
        config, connection = airbyte
        lines += ["", "ingest:", f"  airbyte_config: {config}", f"  connections: [{connection}]"]
    lines += ["", "tests: after_model", "unassigned: error", "", "zones:"]
    for zone, selectors in zones:
        lines += [f"  - name: {zone}", f"    select: {_quoted(selectors)}"]
    return "\n".join(lines) + "\n"


def relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
