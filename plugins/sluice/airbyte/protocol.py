"""The Airbyte protocol as a local sync needs it: the messages a source writes on stdout, the
configured catalog it reads, and the warehouse column type of each JSON-schema property.

Pure functions over JSON; no subprocess, no DuckDB, so every rule is unit-tested on recorded
connector output."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SyncMode = Literal["full_refresh", "incremental"]
DestinationSyncMode = Literal["overwrite", "append", "append_dedup"]

#: the pairs Airbyte itself offers; incremental + overwrite would re-read nothing and drop the rest
VALID_MODES: frozenset[tuple[str, str]] = frozenset(
    {
        ("full_refresh", "overwrite"),
        ("full_refresh", "append"),
        ("incremental", "append"),
        ("incremental", "append_dedup"),
    }
)


@dataclass(frozen=True)
class Record:
    stream: str
    line: str  # the message exactly as the connector wrote it: the writer extracts typed fields from it


@dataclass(frozen=True)
class State:
    """A checkpoint: ``stream`` is None for a global (or legacy) state covering every stream."""

    stream: str | None
    message: Mapping[str, Any]  # the AirbyteStateMessage, handed back verbatim on the next read


@dataclass(frozen=True)
class Log:
    level: str
    message: str


@dataclass(frozen=True)
class TraceError:
    message: str
    internal_message: str | None
    failure_type: str | None


@dataclass(frozen=True)
class StreamStatus:
    stream: str
    status: str


@dataclass(frozen=True)
class Other:
    """A message this runner has no use for (estimates, control, spec...), or stray output."""

    kind: str
    payload: Any = None


Message = Record | State | Log | TraceError | StreamStatus | Other


def parse_line(line: str) -> Message:
    """One stdout line of a connector; lines that are not protocol JSON come back as Other("TEXT")."""
    text = line.strip()
    if not text.startswith("{"):
        return Other("TEXT", text)
    try:
        doc = json.loads(text)
    except ValueError:
        return Other("TEXT", text)
    if not isinstance(doc, dict):
        return Other("TEXT", text)
    kind = doc.get("type")
    if kind == "RECORD":
        record = doc.get("record") or {}
        return Record(str(record.get("stream", "")), text)
    if kind == "STATE":
        return _state(doc.get("state") or {})
    if kind == "LOG":
        log = doc.get("log") or {}
        return Log(str(log.get("level", "INFO")), str(log.get("message", "")))
    if kind == "TRACE":
        return _trace(doc.get("trace") or {})
    return Other(str(kind), doc)


def _state(state: Mapping[str, Any]) -> State:
    if state.get("type") == "STREAM":
        descriptor = (state.get("stream") or {}).get("stream_descriptor") or {}
        return State(str(descriptor.get("name", "")), _without_stats(state))
    return State(None, _without_stats(state))  # GLOBAL, or LEGACY (a bare ``data`` blob)


def _without_stats(state: Mapping[str, Any]) -> dict[str, Any]:
    """The platform's record counts are not part of the checkpoint the source reads back."""
    return {k: v for k, v in state.items() if k not in ("sourceStats", "destinationStats")}


def _trace(trace: Mapping[str, Any]) -> Message:
    kind = trace.get("type")
    if kind == "ERROR":
        error = trace.get("error") or {}
        return TraceError(
            str(error.get("message") or "the connector reported an error"),
            error.get("internal_message"),
            error.get("failure_type"),
        )
    if kind == "STREAM_STATUS":
        status = trace.get("stream_status") or {}
        name = (status.get("stream_descriptor") or {}).get("name", "")
        return StreamStatus(str(name), str(status.get("status", "")))
    return Other(f"TRACE:{kind}", trace)


def single_message(lines: Sequence[str], kind: str) -> dict[str, Any] | None:
    """The first message of ``kind`` (SPEC, CATALOG, CONNECTION_STATUS) among a command's lines."""
    for line in lines:
        parsed = parse_line(line)
        if isinstance(parsed, Other) and parsed.kind == kind and isinstance(parsed.payload, dict):
            return parsed.payload
    return None


# --- column types --------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # BIGINT, DOUBLE, BOOLEAN, VARCHAR, DATE, TIME, TIMESTAMP, TIMESTAMPTZ or JSON


def column_type(prop: Mapping[str, Any]) -> str:
    """The DuckDB type of one JSON-schema property, following Airbyte's typing of destinations
    v2: scalars typed, ``airbyte_type``/``format`` refine strings and numbers, objects, arrays
    and unions stay JSON (nothing is flattened or guessed)."""
    declared = prop.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    types = [t for t in types if t != "null"]
    if len(types) != 1:
        return "JSON"  # untyped, oneOf/anyOf or a union of several types
    kind = types[0]
    airbyte_type = prop.get("airbyte_type")
    if kind == "string":
        fmt = prop.get("format")
        if airbyte_type == "timestamp_without_timezone":
            return "TIMESTAMP"
        if airbyte_type == "timestamp_with_timezone" or fmt == "date-time":
            return "TIMESTAMPTZ"
        if fmt == "date" or airbyte_type == "date":
            return "DATE"
        if fmt == "time" or airbyte_type in ("time_without_timezone", "time_with_timezone"):
            return "TIME"
        return "VARCHAR"
    if kind == "integer" or (kind == "number" and airbyte_type == "integer"):
        return "BIGINT"
    if kind == "number":
        return "DOUBLE"
    if kind == "boolean":
        return "BOOLEAN"
    return "JSON"


def columns(json_schema: Mapping[str, Any]) -> list[Column]:
    """One column per top-level property, in the schema's order."""
    props = json_schema.get("properties") or {}
    return [
        Column(str(name), column_type(prop if isinstance(prop, dict) else {})) for name, prop in props.items()
    ]


# --- configured catalog ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConfiguredStream:
    """A selected stream with everything the writer needs, defaults taken from discovery."""

    name: str
    sync_mode: SyncMode
    destination_sync_mode: DestinationSyncMode
    cursor_field: tuple[str, ...]
    primary_key: tuple[tuple[str, ...], ...]
    columns: tuple[Column, ...]
    json_schema: Mapping[str, Any] = field(repr=False)
    discovered: Mapping[str, Any] = field(repr=False)

    @property
    def incremental(self) -> bool:
        return self.sync_mode == "incremental"

    def as_catalog_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "stream": dict(self.discovered),
            "sync_mode": self.sync_mode,
            "destination_sync_mode": self.destination_sync_mode,
        }
        if self.cursor_field:
            entry["cursor_field"] = list(self.cursor_field)
        if self.primary_key:
            entry["primary_key"] = [list(path) for path in self.primary_key]
        return entry


class CatalogProblem(ValueError):
    """A selection the discovered catalog cannot serve; the message names the stream."""


def configure(
    discovered: Sequence[Mapping[str, Any]],
    name: str,
    sync_mode: str,
    destination_sync_mode: str,
    cursor_field: tuple[str, ...],
    primary_key: tuple[tuple[str, ...], ...],
) -> ConfiguredStream:
    """Check one selection against the discovered streams and fill in the source's defaults."""
    by_name = {str(s.get("name")): s for s in discovered}
    stream = by_name.get(name)
    if stream is None:
        known = ", ".join(sorted(by_name)) or "none"
        raise CatalogProblem(f"stream '{name}' is not offered by the source (it offers: {known})")
    if (sync_mode, destination_sync_mode) not in VALID_MODES:
        raise CatalogProblem(
            f"stream '{name}': sync mode {sync_mode} with destination mode {destination_sync_mode} is "
            "not a combination Airbyte offers "
            "(full_refresh: overwrite|append; incremental: append|append_dedup)"
        )
    supported = stream.get("supported_sync_modes") or ["full_refresh"]
    if sync_mode not in supported:
        raise CatalogProblem(
            f"stream '{name}' does not support {sync_mode} (it supports {', '.join(supported)})"
        )
    cursor = cursor_field or tuple(stream.get("default_cursor_field") or ())
    key = primary_key or tuple(tuple(p) for p in stream.get("source_defined_primary_key") or ())
    schema = stream.get("json_schema") or {}
    cols = tuple(columns(schema))
    if sync_mode == "incremental" and not cursor:
        raise CatalogProblem(f"stream '{name}': incremental needs a cursor_field (the source defines none)")
    if destination_sync_mode == "append_dedup" and not key:
        raise CatalogProblem(f"stream '{name}': append_dedup needs a primary_key (the source defines none)")
    names = {c.name for c in cols}
    for path in (cursor, *key):
        if path and (len(path) != 1 or path[0] not in names):
            raise CatalogProblem(
                f"stream '{name}': field {'.'.join(path)} is not a top-level property of the stream's schema"
            )
    return ConfiguredStream(
        name,
        sync_mode,  # type: ignore[arg-type]  # checked against VALID_MODES above
        destination_sync_mode,  # type: ignore[arg-type]
        cursor,
        key,
        cols,
        schema,
        stream,
    )


def configured_catalog(streams: Sequence[ConfiguredStream]) -> dict[str, Any]:
    return {"streams": [s.as_catalog_entry() for s in streams]}


# --- secrets ---------------------------------------------------------------------------------


def secret_values(spec: Mapping[str, Any], config: Mapping[str, Any]) -> set[str]:
    """Values of ``config`` the connector's spec marks ``airbyte_secret``, at any depth (oneOf
    branches included), so they can be masked in every line this runner repeats."""
    found: set[str] = set()

    def walk(schema: Any, value: Any) -> None:
        if not isinstance(schema, dict):
            return
        if schema.get("airbyte_secret") and isinstance(value, str | int | float) and str(value):
            found.add(str(value))
        if isinstance(value, dict):
            for key, sub in (schema.get("properties") or {}).items():
                if key in value:
                    walk(sub, value[key])
        for branch in (*(schema.get("oneOf") or ()), *(schema.get("anyOf") or ())):
            walk(branch, value)

    walk(spec.get("connectionSpecification") or {}, config)
    return found


def mask(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "**********")
    return text
