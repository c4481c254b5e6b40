"""Read event_streams/: one stream per YAML file, each with its versioned JSON Schemas; errors as
``file:line: key: message``, like airbyte_config/."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sluice.errors import EventConfigError, SpecError, SpecErrors, first_line
from sluice.events.models import EventStream
from sluice.spec.yaml_lines import Loc, display_path, format_loc, line_of, read_yaml

DEFAULT_DIR = "event_streams"
SCHEMA_NAME = "event_stream.schema.json"
#: the biggest JSON Schema file read; real ones are a few KB
MAX_SCHEMA_BYTES = 1 << 20


def file_hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StreamFile:
    """One validated stream, where each of its keys stands in its file, and its schemas."""

    path: Path
    stream: EventStream
    lines: Mapping[Loc, int]
    #: per version, the JSON Schema as read (checked to be a valid JSON Schema)
    schemas: Mapping[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.stream.name

    def error(self, loc: Loc, message: str) -> EventConfigError:
        return EventConfigError(display_path(self.path), line_of(self.lines, loc), format_loc(loc), message)

    def hashes(self) -> dict[int, str]:
        """Per version, the hash recorded in the file (every version has one once loaded)."""
        return {v.version: str(v.sha256) for v in self.stream.schemas}


@dataclass
class EventStreams:
    """Every stream under a folder, by name."""

    directory: Path
    streams: dict[str, StreamFile] = field(default_factory=dict)

    def stream(self, name: str) -> StreamFile:
        try:
            return self.streams[name]
        except KeyError:
            known = ", ".join(sorted(self.streams)) or "none"
            raise EventConfigError(
                display_path(self.directory), None, "", f"no event stream '{name}' (known: {known})"
            ) from None


def _validation_errors(path: Path, lines: Mapping[Loc, int], exc: ValidationError) -> list[SpecError]:
    found: list[SpecError] = []
    for err in exc.errors():
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown key; check its spelling against {SCHEMA_NAME}"
        elif err["type"] == "missing":
            message = "required key is missing"
        found.append(EventConfigError(display_path(path), line_of(lines, loc), format_loc(loc), message))
    return found


def _read_schema(sf: StreamFile, i: int) -> dict[str, Any]:
    """Version ``i``'s JSON Schema, checked against its recorded hash and against the JSON Schema
    meta-schema; raises EventConfigError at the version's key."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    entry = sf.stream.schemas[i]
    target = sf.path.parent / entry.file
    shown = display_path(target)
    try:
        size = target.stat().st_size
        if size > MAX_SCHEMA_BYTES:
            limit = f"{shown} is {size:,} bytes; the limit is {MAX_SCHEMA_BYTES:,}"
            raise sf.error(("schemas", i, "file"), limit)
        data = target.read_bytes()
    except OSError as exc:
        raise sf.error(("schemas", i, "file"), f"cannot read {shown}: {exc.strerror or exc}") from None
    found = file_hash(data)
    if entry.sha256 is None:
        raise sf.error(("schemas", i), f"record the version as published: add `sha256: {found}`")
    if entry.sha256 != found:
        raise sf.error(
            ("schemas", i, "sha256"),
            f"{shown} changed after version {entry.version} was published (it hashes {found}); a "
            "published schema is never edited: restore it and add the change as version "
            f"{sf.stream.latest + 1}",
        )
    try:
        schema = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise sf.error(("schemas", i, "file"), f"{shown} is not JSON: {first_line(exc)}") from None
    if not isinstance(schema, dict):
        raise sf.error(("schemas", i, "file"), f"{shown} is not a JSON Schema object")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        problem = f"{shown} is not a valid JSON Schema at {where}: {first_line(exc)}"
        raise sf.error(("schemas", i, "file"), problem) from None
    return schema


def load_stream(path: Path) -> StreamFile:
    """One stream file and its schemas; raises SpecErrors (or a SpecError) naming file, line and key."""
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise EventConfigError(display_path(path), 1, "", "an event stream file is a YAML mapping")
    try:
        stream = EventStream.model_validate(data)
    except ValidationError as exc:
        raise SpecErrors(_validation_errors(path, lines, exc)) from None
    bare = StreamFile(path, stream, lines)
    problems: list[SpecError] = []
    schemas: dict[int, dict[str, Any]] = {}
    for i, entry in enumerate(stream.schemas):
        try:
            schemas[entry.version] = _read_schema(bare, i)
        except EventConfigError as exc:
            problems.append(exc)
    if problems:
        raise SpecErrors(problems)
    return StreamFile(path, stream, lines, schemas)


def stream_paths(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*") if p.suffix in (".yaml", ".yml"))


def load_streams(directory: str | Path = DEFAULT_DIR) -> EventStreams:
    """Every stream of the folder; raises SpecErrors with one line per problem."""
    root = Path(directory)
    config = EventStreams(root)
    problems: list[SpecError] = []
    if not root.is_dir():
        raise SpecErrors([EventConfigError(display_path(root), None, "", "no such folder of event streams")])
    for path in stream_paths(root):
        try:
            found = load_stream(path)
        except SpecErrors as exc:
            problems.extend(exc.errors)
            continue
        except SpecError as exc:
            problems.append(exc)
            continue
        if found.name in config.streams:
            other = display_path(config.streams[found.name].path)
            problems.append(found.error(("name",), f"'{found.name}' is also defined in {other}"))
            continue
        tables = {s.stream.raw_table.lower(): s for s in config.streams.values()}
        if found.stream.raw_table.lower() in tables:
            other = display_path(tables[found.stream.raw_table.lower()].path)
            problem = f"{found.stream.raw_table} is also the raw table of {other}"
            problems.append(found.error(("raw_table",), problem))
            continue
        config.streams[found.name] = found
    if problems:
        raise SpecErrors(problems)
    return config


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a stream file, for editors (``sluice schema`` writes it)."""
    schema = EventStream.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sluice event stream"
    return schema


def render_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(directory: Path) -> Path:
    target = directory / SCHEMA_NAME
    target.write_text(render_schema(), encoding="utf-8")
    return target
