"""Read airbyte_config/: one resource per YAML file, errors as ``file:line: key: message``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from sluice.airbyte.expand import Loc, check_references, expand
from sluice.airbyte.models import Actor, Connection, Kind
from sluice.errors import AirbyteConfigError, SpecError, SpecErrors
from sluice.settings import settings
from sluice.spec.yaml_lines import display_path, format_loc, line_of, read_yaml

SCHEMA_SUFFIX = ".schema.json"

R = TypeVar("R", Actor, Connection)
MODELS: dict[Kind, type[Actor] | type[Connection]] = {
    Kind.SOURCE: Actor,
    Kind.DESTINATION: Actor,
    Kind.CONNECTION: Connection,
}


def config_dir(value: str | Path | None = None) -> Path:
    """``value`` (``--dir``, or the operator's argument), else $SLUICE_AIRBYTE_CONFIG_DIR, else
    airbyte_config."""
    return settings().airbyte_config_dir(value)


@dataclass(frozen=True)
class ResourceFile(Generic[R]):
    """One validated resource and where each of its keys stands in its file."""

    kind: Kind
    path: Path
    resource: R
    lines: Mapping[Loc, int]

    @property
    def name(self) -> str:
        return self.resource.resource_name

    def error(self, loc: Loc, message: str) -> AirbyteConfigError:
        return AirbyteConfigError(display_path(self.path), line_of(self.lines, loc), format_loc(loc), message)

    def raw(self) -> dict[str, Any]:
        """The resource as written, references unexpanded: safe to hash, log and store."""
        return self.resource.model_dump(mode="json", exclude_none=True)

    def config_hash(self) -> str:
        """Hash of the resource as written; secrets stay ``${VAR}`` text, so no secret is in it."""
        text = json.dumps(self.raw(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


SourceFile = ResourceFile[Actor]
ConnectionFile = ResourceFile[Connection]


@dataclass
class AirbyteConfig:
    """Every resource under a config folder, by kind and name."""

    directory: Path
    sources: dict[str, ResourceFile[Actor]] = field(default_factory=dict)
    destinations: dict[str, ResourceFile[Actor]] = field(default_factory=dict)
    connections: dict[str, ResourceFile[Connection]] = field(default_factory=dict)

    def actors(self, kind: Kind) -> dict[str, ResourceFile[Actor]]:
        return self.sources if kind is Kind.SOURCE else self.destinations

    def connection(self, name: str) -> ResourceFile[Connection]:
        try:
            return self.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.connections)) or "none"
            raise AirbyteConfigError(
                display_path(self.directory / Kind.CONNECTION.folder),
                None,
                "",
                f"no connection '{name}' (known: {known})",
            ) from None

    def expanded_configuration(self, actor: ResourceFile[Actor], env: Mapping[str, str] | None = None) -> Any:
        """The configuration to send: references replaced by the environment's values."""
        return expand(
            actor.resource.configuration, os.environ if env is None else env, ("configuration",), actor.error
        )


def _validation_errors(
    path: Path, lines: Mapping[Loc, int], exc: ValidationError
) -> list[AirbyteConfigError]:
    found = []
    for err in exc.errors():
        loc: Loc = tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against the folder's JSON Schema"
        elif err["type"] == "missing":
            message = "required key is missing"
        found.append(AirbyteConfigError(display_path(path), line_of(lines, loc), format_loc(loc), message))
    return found


def load_resource(path: Path, kind: Kind) -> ResourceFile[Any]:
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise AirbyteConfigError(display_path(path), 1, "", f"a {kind.value} file is a YAML mapping")
    model: type[BaseModel] = MODELS[kind]
    try:
        resource = model.model_validate(data)
    except ValidationError as exc:
        errors = _validation_errors(path, lines, exc)
        raise SpecErrors(list(errors)) from None
    found: ResourceFile[Any] = ResourceFile(kind, path, resource, lines)
    if isinstance(resource, Actor):
        check_references(resource.configuration, ("configuration",), found.error)
    return found


def resource_paths(directory: Path, kind: Kind) -> list[Path]:
    folder = directory / kind.folder
    return sorted(p for p in folder.glob("*") if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []


def load_config(directory: str | Path | None = None) -> AirbyteConfig:
    """Load and cross-check every resource; raises SpecErrors with one line per problem."""
    root = config_dir(directory)
    config = AirbyteConfig(root)
    problems: list[AirbyteConfigError] = []
    broken: set[Kind] = set()  # a kind with an unreadable file: its names are not all known
    for kind in Kind:
        target: dict[str, Any] = config.connections if kind is Kind.CONNECTION else config.actors(kind)
        for path in resource_paths(root, kind):
            try:
                found = load_resource(path, kind)
            except SpecErrors as exc:
                problems.extend(e for e in exc.errors if isinstance(e, AirbyteConfigError))
                broken.add(kind)
                continue
            except SpecError as exc:
                problems.append(AirbyteConfigError(exc.path, exc.line, exc.key, exc.message))
                broken.add(kind)
                continue
            if found.name in target:
                other = display_path(target[found.name].path)
                problems.append(found.error(("resource_name",), f"'{found.name}' is also defined in {other}"))
                continue
            target[found.name] = found
    for conn in config.connections.values():
        for kind, names in ((Kind.SOURCE, config.sources), (Kind.DESTINATION, config.destinations)):
            key = kind.value
            wanted = getattr(conn.resource, key)
            if wanted not in names and kind not in broken:
                known = ", ".join(sorted(names)) or "none"
                problems.append(conn.error((key,), f"no {key} named '{wanted}' (known: {known})"))
    if problems:
        raise SpecErrors(list(problems))
    return config
