"""Read dbt's manifest.json leniently into small frozen records."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

from sluice.errors import ManifestError

if TYPE_CHECKING:
    from sluice.manifest.node_index import NodeIndex

#: resource types that become tasks of their own
BUILDABLE = frozenset({"model", "seed", "snapshot"})


@dataclass(frozen=True, slots=True)
class Node:
    """One dbt node (model, seed, snapshot, test, source, ...) as sluice sees it."""

    unique_id: str
    resource_type: str
    package_name: str
    name: str
    fqn: tuple[str, ...]
    original_file_path: str
    tags: tuple[str, ...]
    depends_on: tuple[str, ...]
    materialized: str | None
    enabled: bool
    severity: str
    description: str
    version: str | None
    #: the schema and identifier dbt builds the node into (as parsed: live names)
    schema: str | None = None
    alias: str | None = None

    @property
    def is_ephemeral(self) -> bool:
        return self.materialized == "ephemeral"

    @property
    def blocks(self) -> bool:
        """A test blocks its children and zone unless its severity is warn."""
        return self.severity != "WARN"


@dataclass(frozen=True)
class Manifest:
    """What sluice reads of dbt's manifest.json: its nodes (models, seeds, snapshots, tests),
    sources, disabled nodes and a few macro calls. Read leniently by :func:`load_manifest`: dbt
    adds keys every release, and a field of an unexpected type reads as absent."""

    project_name: str
    adapter_type: str | None
    nodes: Mapping[str, Node]
    sources: Mapping[str, Node]
    disabled: frozenset[str]
    path: str
    #: macro name -> names of the macros it calls, for the few macros sluice checks
    macro_calls: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @functools.cached_property
    def index(self) -> NodeIndex:
        """The nodes indexed for selectors; built once per manifest, which load_manifest reads
        once per version, so every spec planned against it shares one index."""
        from sluice.manifest.node_index import NodeIndex

        return NodeIndex(self.nodes.values())


def _strs(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if isinstance(v, str | int))
    return ()


def _mapping(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``raw[key]`` when it is a mapping; anything else reads as empty."""
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _node(uid: str, raw: Mapping[str, Any]) -> Node:
    config = _mapping(raw, "config")
    depends = _mapping(raw, "depends_on")
    resource_type = str(raw.get("resource_type") or uid.split(".", 1)[0])
    name = str(raw.get("name") or uid.rsplit(".", 1)[-1])
    package = str(raw.get("package_name") or (uid.split(".")[1] if uid.count(".") >= 2 else ""))
    tags = set(_strs(raw.get("tags"))) | set(_strs(config.get("tags")))
    version = raw.get("version")
    return Node(
        unique_id=uid,
        resource_type=resource_type,
        package_name=package,
        name=name,
        fqn=_strs(raw.get("fqn")) or (package, name),
        original_file_path=str(raw.get("original_file_path") or raw.get("path") or ""),
        tags=tuple(sorted(tags)),
        depends_on=_strs(depends.get("nodes")),
        materialized=config.get("materialized") if isinstance(config.get("materialized"), str) else None,
        enabled=config.get("enabled", True) is not False,
        severity=str(config.get("severity") or "ERROR").upper(),
        description=str(raw.get("description") or ""),
        version=str(version) if version is not None else None,
        schema=raw["schema"] if isinstance(raw.get("schema"), str) else None,
        alias=str(raw.get("alias") or name),
    )


#: macros whose calls sluice checks (atomic publish needs generate_schema_name to stage)
CHECKED_MACROS = frozenset({"generate_schema_name", "sluice_describe", "sluice_run_sql", "sluice_query"})


def _macro_calls(macros: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    calls: dict[str, frozenset[str]] = {}
    for uid, raw in macros.items():
        name = uid.rsplit(".", 1)[-1]
        if name in CHECKED_MACROS and isinstance(raw, Mapping) and not uid.startswith("macro.dbt"):
            called = _strs(_mapping(raw, "depends_on").get("macros"))
            calls[name] = frozenset(c.rsplit(".", 1)[-1] for c in called)
    return calls


def parse_manifest(data: Any, path: str = "<manifest>") -> Manifest:
    """Build a Manifest from decoded manifest.json; only a missing ``nodes`` mapping is fatal."""
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), Mapping):
        raise ManifestError(f"{path}: not a dbt manifest (no 'nodes' mapping); run `dbt parse` to make one")
    meta = _mapping(data, "metadata")
    nodes = {uid: _node(uid, raw) for uid, raw in data["nodes"].items() if isinstance(raw, Mapping)}
    sources = {
        uid: _node(uid, raw) for uid, raw in _mapping(data, "sources").items() if isinstance(raw, Mapping)
    }
    project = meta.get("project_name")
    if not isinstance(project, str) or not project:
        packages = {n.package_name for n in nodes.values()}
        project = packages.pop() if len(packages) == 1 else ""
    return Manifest(
        project_name=project,
        adapter_type=meta.get("adapter_type") if isinstance(meta.get("adapter_type"), str) else None,
        nodes=nodes,
        sources=sources,
        disabled=frozenset(_mapping(data, "disabled")),
        path=path,
        macro_calls=_macro_calls(_mapping(data, "macros")),
    )


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> Manifest:
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); re-run `dbt parse`") from None
    except ValueError as exc:  # bytes that are no JSON encoding at all
        raise ManifestError(f"{path}: not a JSON text ({exc}); re-run `dbt parse`") from None
    except RecursionError:
        raise ManifestError(f"{path}: nested too deeply to be a dbt manifest; re-run `dbt parse`") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror or exc}") from None
    return parse_manifest(data, path)


def load_manifest(path: str | Path) -> Manifest:
    """Read a manifest.json once per content version (path, mtime, size)."""
    p = Path(path)
    try:
        stat = p.stat()
    except OSError:
        raise ManifestError(
            f"{p}: no dbt manifest here; run `make manifest` (dbt parse) to build it"
        ) from None
    if not S_ISREG(stat.st_mode):  # a directory, or a FIFO that would hang the DAG import
        raise ManifestError(f"{p}: not a regular file; point dbt.manifest at dbt's manifest.json")
    return _load(str(p), stat.st_mtime_ns, stat.st_size)
