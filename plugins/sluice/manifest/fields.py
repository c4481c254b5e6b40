"""The fields of dbt's manifest.json that sluice reads, typed as dbt writes them (msgspec Structs).

Decoding a manifest into these types skips every other key without building it: compiled SQL,
columns, docs, the parent and child maps are most of a manifest, and a generic decoder builds
them all (json.load of a 34 MB manifest: ~0.5 s; these types: ~0.1 s). A key sluice does not
read is skipped whatever its type, so dbt may add and change those. A field sluice reads may be
absent or null, and then takes its default; of another type, it is an error naming its key
(:func:`convert` with ``strict``), or reads as absent (decoded data, leniently).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from msgspec import Raw, Struct

# gc=False: these records hold only strings and other such records, never a cycle; leaving
# ~16,000 of them out of the garbage collector's generations spares it a full pass over them.


class RawTime(Struct, frozen=True, gc=False):
    """One freshness threshold: ``{count: 24, period: hour}``."""

    count: int | None = None
    period: str | None = None


class RawFreshness(Struct, frozen=True, gc=False):
    warn_after: RawTime | None = None
    error_after: RawTime | None = None


class RawContract(Struct, frozen=True, gc=False):
    enforced: bool | None = None


class RawConfig(Struct, frozen=True, gc=False):
    """A node's config: what sluice plans from, and the keys a ``config.<key>`` selector may name
    (sluice.spec.selectors.CONFIG_KEYS); read as a whole by sluice.manifest.selector."""

    #: dbt's schema allows one tag as a string
    tags: tuple[str, ...] | str | None = None
    materialized: str | None = None
    enabled: bool | None = None
    severity: str | None = None
    #: the custom schema, database and alias as configured (the node's own fields are as built)
    schema: str | None = None
    database: str | None = None
    alias: str | None = None
    group: str | None = None
    access: str | None = None
    incremental_strategy: str | None = None
    on_schema_change: str | None = None
    #: one column or a list of them
    unique_key: str | tuple[str, ...] | None = None
    full_refresh: bool | None = None
    meta: dict[str, Any] | None = None
    contract: RawContract | None = None
    #: a source's; dbt 1.10+ writes them here as well as on the source itself
    freshness: RawFreshness | None = None
    loaded_at_field: str | None = None
    loaded_at_query: str | None = None


class RawDependsOn(Struct, frozen=True, gc=False):
    nodes: tuple[str, ...] | None = None
    macros: tuple[str, ...] | None = None


class RawTestMetadata(Struct, frozen=True, gc=False):
    """A generic test's: the test's name (``unique``, ``not_null``, ...); singular tests have none."""

    name: str | None = None


class RawNode(Struct, frozen=True, gc=False):
    """A node or a source; its unique id is its key in the manifest."""

    resource_type: str | None = None
    package_name: str | None = None
    name: str | None = None
    fqn: tuple[str, ...] | None = None
    original_file_path: str | None = None
    path: str | None = None
    tags: tuple[str, ...] | None = None
    depends_on: RawDependsOn | None = None
    config: RawConfig | None = None
    description: str | None = None
    #: dbt writes a model version as a string or a number
    version: str | int | float | None = None
    latest_version: str | int | float | None = None
    group: str | None = None
    access: str | None = None
    test_metadata: RawTestMetadata | None = None
    #: a source's
    source_name: str | None = None
    schema: str | None = None
    alias: str | None = None
    #: a source's freshness rule, and the column or query that says when a row was loaded
    freshness: RawFreshness | None = None
    loaded_at_field: str | None = None
    loaded_at_query: str | None = None


class RawMacro(Struct, frozen=True, gc=False):
    depends_on: RawDependsOn | None = None


class RawMetadata(Struct, frozen=True, gc=False):
    project_name: str | None = None
    adapter_type: str | None = None


class RawManifest(Struct, frozen=True, gc=False):
    """A manifest file decoded by type. ``disabled`` is read for its keys alone and ``macros``
    only for the few sluice checks (:func:`decode_raw`), so the rest stay undecoded."""

    nodes: dict[str, RawNode]
    metadata: RawMetadata | None = None
    sources: dict[str, RawNode] | None = None
    disabled: dict[str, Raw] | None = None
    macros: dict[str, Raw] | None = None
    #: dashboards, notebooks and apps that read models: read for `sluice report` alone, so leniently
    #: (reader.lenient_records); a malformed one never stops a pipeline from planning
    exposures: dict[str, Raw] | None = None


_DECODER = msgspec.json.Decoder(RawManifest)
S = TypeVar("S", bound=Struct)


class WrongType(ValueError):
    """A field sluice reads has a type dbt does not write; ``key`` names it from the manifest's
    top (``nodes["model.shop.a"].tags``)."""

    def __init__(self, key: str, what: str) -> None:
        self.key = key
        self.what = what
        super().__init__(f"{key}: {what}")


def decode(data: bytes) -> RawManifest:
    """A manifest's bytes by type; raises msgspec's errors (whose paths do not name a node's
    key: :func:`convert` on the decoded JSON says which)."""
    return _DECODER.decode(data)


def key_of(*parts: str) -> str:
    """``nodes["model.shop.a"]``: a manifest key as the error lines write it."""
    return parts[0] + "".join(f"[{json.dumps(p, ensure_ascii=False)}]" for p in parts[1:])


def _wrong(key: str, exc: msgspec.ValidationError) -> WrongType:
    what, _, at = str(exc).partition(" - at `")
    return WrongType(key + at.rstrip("`").removeprefix("$"), what[:1].lower() + what[1:])


def decode_raw(raw: Raw, cls: type[S], key: str) -> S:
    """One undecoded value of a manifest file as ``cls``; a field of the wrong type is WrongType."""
    try:
        return msgspec.json.decode(raw, type=cls)
    except msgspec.ValidationError as exc:
        raise _wrong(key, exc) from None


def convert(value: Any, cls: type[S], key: str, *, strict: bool) -> S | None:
    """``value`` (decoded JSON) as ``cls``, null as every field's default. A field of another
    type raises WrongType (``strict``) or reads as absent; a value that is no object at all
    raises WrongType (``strict``) or reads as None."""
    if value is None:
        return cls()
    try:
        return msgspec.convert(value, cls)
    except msgspec.ValidationError as exc:
        if strict:
            raise _wrong(key, exc) from None
    if not isinstance(value, Mapping):
        return None
    kept: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        if field.encode_name not in value:
            continue
        item = value[field.encode_name]
        try:
            kept[field.name] = msgspec.convert(item, field.type)
        except msgspec.ValidationError:
            inner = _struct_in(field.type)
            if inner is not None:
                kept[field.name] = convert(item, inner, key, strict=False)
    return cls(**kept)


def _struct_in(tp: Any) -> type[Struct] | None:
    """The Struct a field holds (``RawConfig | None`` -> RawConfig), if any."""
    for member in typing.get_args(tp) or (tp,):
        if isinstance(member, type) and issubclass(member, Struct):
            return member
    return None


def mapping_at(data: Mapping[str, Any], key: str, *, strict: bool) -> Mapping[str, Any]:
    """``data[key]`` when it is a mapping; absent or null reads as empty, and so does anything
    else unless ``strict``."""
    value = data.get(key)
    if isinstance(value, Mapping):
        return value
    if value is not None and strict:
        try:
            msgspec.convert(value, dict[str, Any])
        except msgspec.ValidationError as exc:
            raise _wrong(key, exc) from None
    return {}
