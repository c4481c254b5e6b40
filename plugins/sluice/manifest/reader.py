"""Read dbt's manifest.json into small frozen records: only the fields sluice needs."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

import msgspec

from sluice.errors import ManifestError, one_line
from sluice.manifest.fields import (
    RawConfig,
    RawFreshness,
    RawMacro,
    RawMetadata,
    RawNode,
    RawTime,
    S,
    WrongType,
    convert,
    decode,
    decode_raw,
    key_of,
    mapping_at,
)

if TYPE_CHECKING:
    from sluice.manifest.node_index import NodeIndex

_NO_CONFIG = RawConfig()
#: resource types that become tasks of their own
BUILDABLE = frozenset({"model", "seed", "snapshot"})


@dataclass(frozen=True, slots=True)
class Threshold:
    """One of a source's freshness thresholds, as dbt counts it: older than ``count`` periods."""

    count: int
    period: str

    def __str__(self) -> str:
        return f"{self.count} {self.period}{'' if self.count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Freshness:
    """A source's freshness rule: at least one threshold is set (dbt checks no other)."""

    warn_after: Threshold | None
    error_after: Threshold | None


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
    #: a source's freshness rule, and the column or query dbt reads it from
    freshness: Freshness | None = None
    loaded_at_field: str | None = None
    loaded_at_query: str | None = None
    #: the config as read (sluice.manifest.fields.RawConfig), for ``config.<key>`` selectors
    config: RawConfig = _NO_CONFIG
    group: str | None = None
    access: str | None = None
    latest_version: str | None = None
    #: a test's kind, ``generic`` or ``singular``, and a generic test's name (``not_null``)
    test_type: str | None = None
    test_name: str | None = None
    source_name: str | None = None

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
    sources, disabled nodes and a few macro calls. :func:`load_manifest` decodes only those
    fields (sluice.manifest.fields): any other key is ignored whatever it holds, as dbt adds and
    changes keys every release; a field sluice reads, if absent or null, takes its default, and
    of a type dbt does not write, is an error naming the file and the key (read as absent, it
    could drop a dependency unseen). :func:`parse_manifest` builds one from decoded JSON, as
    tests and tools write it, and reads such a field as absent."""

    project_name: str
    adapter_type: str | None
    nodes: Mapping[str, Node]
    sources: Mapping[str, Node]
    disabled: frozenset[str]
    path: str
    #: macro name -> names of the macros it calls, for the few macros sluice checks
    macro_calls: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: exposures (dashboards, apps and the like that read models), by unique id
    exposures: Mapping[str, Node] = field(default_factory=dict)

    @functools.cached_property
    def index(self) -> NodeIndex:
        """The nodes and sources indexed for selectors (dbt's selectors read both); built once
        per manifest, which load_manifest reads once per version, so every spec planned against
        it shares one index."""
        from sluice.manifest.node_index import NodeIndex

        return NodeIndex([*self.nodes.values(), *self.sources.values()], self.project_name)


def _node(uid: str, raw: RawNode) -> Node:
    config = raw.config or _NO_CONFIG
    name = raw.name or uid.rsplit(".", 1)[-1]
    package = raw.package_name or (uid.split(".")[1] if uid.count(".") >= 2 else "")
    tags = set(raw.tags or ())
    if config.tags:
        tags.update((config.tags,) if isinstance(config.tags, str) else config.tags)
    depends = raw.depends_on
    return Node(
        unique_id=uid,
        resource_type=raw.resource_type or uid.split(".", 1)[0],
        package_name=package,
        name=name,
        fqn=raw.fqn or (package, name),
        original_file_path=raw.original_file_path or raw.path or "",
        tags=tuple(sorted(tags)),
        depends_on=(depends.nodes or ()) if depends else (),
        materialized=config.materialized,
        enabled=config.enabled is not False,
        severity=(config.severity or "ERROR").upper(),
        description=raw.description or "",
        version=_version(raw.version),
        schema=raw.schema,
        alias=raw.alias or name,
        freshness=_freshness(raw.freshness or config.freshness),
        loaded_at_field=raw.loaded_at_field or config.loaded_at_field,
        loaded_at_query=raw.loaded_at_query or config.loaded_at_query,
        config=config,
        group=config.group or raw.group,
        access=raw.access or config.access,
        latest_version=_version(raw.latest_version),
        test_type=_test_type(raw, uid),
        test_name=raw.test_metadata.name if raw.test_metadata else None,
        source_name=raw.source_name,
    )


def _version(raw: str | int | float | None) -> str | None:
    return str(raw) if raw is not None else None


def _test_type(raw: RawNode, uid: str) -> str | None:
    """dbt's test kinds: a generic test is written with its test_metadata, a singular one without."""
    if (raw.resource_type or uid.split(".", 1)[0]) != "test":
        return None
    return "generic" if raw.test_metadata is not None else "singular"


def _threshold(raw: RawTime | None) -> Threshold | None:
    if raw is None or raw.count is None or not raw.period:
        return None
    return Threshold(raw.count, raw.period)


def _freshness(raw: RawFreshness | None) -> Freshness | None:
    """The rule, or None when it sets no threshold (``freshness: null`` turns a source's off)."""
    if raw is None:
        return None
    warn, error = _threshold(raw.warn_after), _threshold(raw.error_after)
    return Freshness(warn, error) if warn or error else None


#: macros whose calls sluice checks (atomic publish needs generate_schema_name to stage)
CHECKED_MACROS = frozenset({"generate_schema_name", "sluice_describe", "sluice_run_sql", "sluice_query"})


def _checked(uid: str) -> bool:
    return uid.rsplit(".", 1)[-1] in CHECKED_MACROS and not uid.startswith("macro.dbt")


def _manifest(
    path: str,
    meta: RawMetadata,
    nodes: Mapping[str, RawNode],
    sources: Mapping[str, RawNode],
    disabled: Iterable[str],
    macros: Mapping[str, RawMacro],
    exposures: Mapping[str, RawNode],
) -> Manifest:
    built = {uid: _node(uid, raw) for uid, raw in nodes.items()}
    project = meta.project_name
    if not project:
        packages = {n.package_name for n in built.values()}
        project = packages.pop() if len(packages) == 1 else ""
    calls: dict[str, frozenset[str]] = {}
    for uid, macro in macros.items():
        called = (macro.depends_on.macros or ()) if macro.depends_on else ()
        calls[uid.rsplit(".", 1)[-1]] = frozenset(c.rsplit(".", 1)[-1] for c in called)
    return Manifest(
        project_name=project,
        adapter_type=meta.adapter_type,
        nodes=built,
        sources={uid: _node(uid, raw) for uid, raw in sources.items()},
        disabled=frozenset(disabled),
        path=path,
        macro_calls=calls,
        exposures={uid: _node(uid, raw) for uid, raw in exposures.items()},
    )


def _records(
    data: Mapping[str, Any], key: str, cls: type[S], strict: bool, keep: Callable[[str], bool] | None = None
) -> dict[str, S]:
    """Each value (whose id ``keep`` accepts) of the mapping ``data[key]`` as ``cls``;
    leniently, a value that is no object is left out."""
    found: dict[str, S] = {}
    for uid, raw in mapping_at(data, key, strict=strict).items():
        if keep is None or keep(uid):
            record = convert(raw, cls, key_of(key, uid), strict=strict)
            if record is not None:
                found[uid] = record
    return found


def _from_decoded(data: Any, path: str, *, strict: bool) -> Manifest:
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), Mapping):
        raise ManifestError(f"{path}: not a dbt manifest (no 'nodes' mapping); run `dbt parse` to make one")
    return _manifest(
        path,
        convert(data.get("metadata"), RawMetadata, "metadata", strict=strict) or RawMetadata(),
        _records(data, "nodes", RawNode, strict),
        _records(data, "sources", RawNode, strict),
        mapping_at(data, "disabled", strict=strict),
        _records(data, "macros", RawMacro, strict, keep=_checked),
        _records(data, "exposures", RawNode, strict=False),
    )


def _decoded_by_type(data: bytes, path: str) -> Manifest:
    """The fast way (sluice.manifest.fields): only the fields sluice reads are built."""
    raw = decode(data)
    macros = {
        uid: decode_raw(value, RawMacro, key_of("macros", uid))
        for uid, value in (raw.macros or {}).items()
        if _checked(uid)
    }
    meta = raw.metadata or RawMetadata()
    exposures = {}
    for uid, value in (raw.exposures or {}).items():
        try:
            exposures[uid] = decode_raw(value, RawNode, key_of("exposures", uid))
        except WrongType:
            continue  # only the report reads exposures: one dbt does not write is left out
    return _manifest(path, meta, raw.nodes, raw.sources or {}, raw.disabled or (), macros, exposures)


def _from_bytes(data: bytes, path: str) -> Manifest:
    try:
        try:
            return _decoded_by_type(data, path)
        except (msgspec.DecodeError, UnicodeDecodeError):
            # not JSON, a field of a type sluice cannot read, or a text only Python's json reads:
            # json says where a text is broken, then the fields are read one by one to name the key
            return _from_decoded(_json(data, path), path, strict=True)
    except WrongType as exc:
        raise ManifestError(
            one_line(
                f"{path}: {exc.key}: {exc.what}; sluice needs this field as dbt writes it: re-run `dbt parse`"
            )
        ) from None
    except RecursionError:
        raise ManifestError(f"{path}: nested too deeply to be a dbt manifest; re-run `dbt parse`") from None


def _json(data: bytes, path: str) -> Any:
    """The manifest decoded by Python's json module: it says on which line a text is broken,
    and reads what msgspec refuses but json.load always read (UTF-16, a NaN in a meta)."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); re-run `dbt parse`") from None
    except ValueError as exc:  # bytes that are no JSON encoding at all
        raise ManifestError(f"{path}: not a JSON text ({exc}); re-run `dbt parse`") from None


def parse_manifest(data: bytes | Any, path: str = "<manifest>") -> Manifest:
    """A Manifest from manifest.json's bytes, or from its decoded JSON as tests and tools write
    it. Bytes are decoded by type: a field sluice reads, of a type dbt does not write, is an
    error naming ``path`` and the key. Decoded JSON is read leniently: such a field reads as
    absent. To both, only a missing ``nodes`` mapping is fatal."""
    if isinstance(data, bytes):
        return _from_bytes(data, path)
    return _from_decoded(data, path, strict=False)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> Manifest:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
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
