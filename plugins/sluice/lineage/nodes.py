"""The manifest's relations, columns and tests, for lineage: decoded by type (msgspec) apart from
the planning reader, which skips columns on purpose, and only in a process that emits lineage,
once per version of the manifest file."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from msgspec import Struct

from sluice.errors import SluiceError
from sluice.lineage.naming import dataset_name


class _Column(Struct, frozen=True, gc=False):
    name: str | None = None
    data_type: str | None = None
    description: str | None = None


class _DependsOn(Struct, frozen=True, gc=False):
    nodes: tuple[str, ...] = ()


class _TestMetadata(Struct, frozen=True, gc=False):
    name: str | None = None
    kwargs: dict[str, Any] | None = None


class _Config(Struct, frozen=True, gc=False):
    severity: str | None = None


class _Node(Struct, frozen=True, gc=False):
    resource_type: str | None = None
    name: str | None = None
    fqn: tuple[str, ...] = ()
    database: str | None = None
    schema: str | None = None
    alias: str | None = None
    identifier: str | None = None
    description: str | None = None
    columns: dict[str, _Column] | None = None
    depends_on: _DependsOn | None = None
    test_metadata: _TestMetadata | None = None
    attached_node: str | None = None
    config: _Config | None = None


class _Exposure(Struct, frozen=True, gc=False):
    name: str | None = None
    type: str | None = None
    url: str | None = None
    depends_on: _DependsOn | None = None


class _Manifest(Struct, frozen=True, gc=False):
    nodes: dict[str, _Node]
    sources: dict[str, _Node] | None = None
    exposures: dict[str, _Exposure] | None = None


#: resource types that are a relation in the warehouse
RELATIONS = frozenset({"model", "seed", "snapshot", "source"})


@dataclass(frozen=True)
class Column:
    name: str
    type: str | None
    description: str | None


@dataclass(frozen=True)
class Exposure:
    """A dashboard, notebook or app that reads relations (dbt's exposure)."""

    unique_id: str
    name: str
    type: str | None
    url: str | None


@dataclass(frozen=True)
class Relation:
    """A model, seed, snapshot or source as a table of the warehouse."""

    unique_id: str
    name: str  # database.schema.table
    description: str | None
    columns: tuple[Column, ...]
    #: the exposures that read it
    exposures: tuple[Exposure, ...] = ()

    @property
    def schema_table(self) -> str:
        """``schema.table``, lowercased: how a publish or a sync names it."""
        return ".".join(self.name.split(".")[-2:]).lower()


@dataclass(frozen=True)
class Test:
    unique_id: str
    name: str
    #: the generic test's name (``unique``, ``not_null``), or the singular test's own
    assertion: str
    column: str | None
    severity: str | None
    #: the relations it tests (its attached node, else every relation it depends on)
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    unique_id: str
    resource_type: str
    parents: tuple[str, ...]


@dataclass(frozen=True)
class LineageNodes:
    """What lineage needs of one manifest, by unique id and by the selector sluice writes."""

    relations: dict[str, Relation]
    tests: dict[str, Test]
    nodes: dict[str, Node]
    #: the selectors sluice writes (``fqn:...``, ``source:...``) -> unique id
    by_selector: dict[str, str]


def lineage_nodes(manifest: Path) -> LineageNodes:
    """The manifest's lineage facts, read once per version of the file."""
    try:
        stat = manifest.stat()
    except OSError as exc:
        raise SluiceError(f"{manifest}: cannot read the dbt manifest for lineage ({exc.strerror})") from None
    return _read(str(manifest), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _read(path: str, _mtime_ns: int, _size: int) -> LineageNodes:
    try:
        raw = msgspec.json.decode(Path(path).read_bytes(), type=_Manifest)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SluiceError(f"{path}: cannot read the dbt manifest for lineage: {exc}") from None
    relations: dict[str, Relation] = {}
    tests: dict[str, Test] = {}
    nodes: dict[str, Node] = {}
    by_selector: dict[str, str] = {}
    for unique_id, node in [*raw.nodes.items(), *(raw.sources or {}).items()]:
        kind = node.resource_type or unique_id.split(".", 1)[0]
        parents = node.depends_on.nodes if node.depends_on else ()
        nodes[unique_id] = Node(unique_id, kind, parents)
        if node.fqn:
            by_selector["fqn:" + ".".join(node.fqn)] = unique_id
        if kind == "source":
            parts = unique_id.split(".")
            if len(parts) == 4:
                by_selector["source:" + ".".join(parts[1:])] = unique_id
        table = node.alias or node.identifier or node.name
        if kind in RELATIONS and table:
            columns = tuple(
                Column(c.name or key, c.data_type, c.description or None)
                for key, c in (node.columns or {}).items()
            )
            relations[unique_id] = Relation(
                unique_id, dataset_name(node.database, node.schema, table), node.description or None, columns
            )
        elif kind == "test":
            meta = node.test_metadata
            column = (meta.kwargs or {}).get("column_name") if meta else None
            tested = (node.attached_node,) if node.attached_node else parents
            tests[unique_id] = Test(
                unique_id,
                node.name or unique_id,
                (meta.name if meta and meta.name else None) or node.name or unique_id,
                str(column) if column else None,
                node.config.severity if node.config else None,
                tuple(tested),
            )
    readers: dict[str, list[Exposure]] = {}
    for unique_id, exposure in (raw.exposures or {}).items():
        found = Exposure(unique_id, exposure.name or unique_id, exposure.type, exposure.url)
        for parent in exposure.depends_on.nodes if exposure.depends_on else ():
            readers.setdefault(parent, []).append(found)
    for unique_id, exposures in readers.items():
        if unique_id in relations:
            relations[unique_id] = dataclasses.replace(relations[unique_id], exposures=tuple(exposures))
    return LineageNodes(relations, tests, nodes, by_selector)
