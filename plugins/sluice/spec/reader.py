"""Read a spec file: YAML with line numbers, environment overrides, errors as file:line: key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from sluice.errors import SluiceError, SpecError, SpecErrors
from sluice.settings import settings
from sluice.spec.models import ARCHIVE_GROUP, ENVIRONMENTS, INGEST_GROUP, Environment, PipelineSpec
from sluice.spec.yaml_lines import Loc, display_path, format_loc, line_of, read_yaml

ENV_VAR = "SLUICE_ENV"
#: top-level keys sluice ignores, for YAML anchors: ``x-defaults: &defaults``
EXTENSION_PREFIX = "x-"


def active_environment(value: str | None = None) -> Environment:
    """The environment whose overrides apply: the argument (``--env``), else $SLUICE_ENV, else local."""
    name = settings().environment(value)
    if name not in ENVIRONMENTS:
        source = "environment" if value else ENV_VAR
        raise SluiceError(f"{source}={name!r} is not an environment; use one of {', '.join(ENVIRONMENTS)}")
    return cast(Environment, name)


@dataclass(frozen=True)
class SpecFile:
    """A validated spec for one environment, and where each key of it stands in its file."""

    path: Path
    spec: PipelineSpec
    environment: Environment
    lines: Mapping[Loc, int]

    def error(self, loc: Loc, message: str) -> SpecError:
        override: Loc = ("environments", self.environment, *loc)
        if loc and override in self.lines:
            loc = override
        return SpecError(display_path(self.path), line_of(self.lines, loc), format_loc(loc), message)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def environments(self) -> list[Environment]:
        """The environments this spec is checked and compiled for: the active one and every one
        it declares overrides for."""
        return sorted({self.environment, *self.spec.environments})


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


#: steps of pydantic's error locations that are not keys of the file: validators and union tags
NOT_KEYS = ("function-", "tag:")


def _errors(path: Path, lines: Mapping[Loc, int], exc: ValidationError, env: str | None) -> SpecErrors:
    found: list[SpecError] = []
    for err in exc.errors():
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(NOT_KEYS)))
        if env is not None and ("environments", env, *loc) in lines:
            loc = ("environments", env, *loc)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against dags/pipelines/spec.schema.json"
        elif err["type"] == "missing":
            message = "required key is missing"
        message = message.removeprefix("Value error, ")
        found.append(SpecError(display_path(path), line_of(lines, loc), format_loc(loc), message))
    return SpecErrors(found)


def load_spec(path: str | Path, environment: str | None = None) -> SpecFile:
    """Load and validate a spec for one environment; every environment's overrides are checked.

    Raises SpecErrors (one line per problem) or SpecError.
    """
    path = Path(path)
    env = active_environment(environment)
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(
            display_path(path), 1, "", "a pipeline spec is a YAML mapping (pipeline:, zones:, ...)"
        )
    # x- keys hold anchors for merge keys (``x-defaults: &defaults``), as in compose files
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith(EXTENSION_PREFIX))}
    try:
        base = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise _errors(path, lines, exc, None) from None
    chosen = base
    for name, override in base.environments.items():
        merged = _merge(data, override.model_dump(mode="json", exclude_none=True))
        try:
            spec = PipelineSpec.model_validate(merged)
        except ValidationError as exc:
            raise _errors(path, lines, exc, name) from None
        if name == env:
            chosen = spec
    sf = SpecFile(path, chosen, env, lines)
    _check_zones(sf)
    return sf


def _check_zones(sf: SpecFile) -> None:
    """Zone names are unique and leave the sync tasks' group alone; said at the zone's name."""
    seen: set[str] = set()
    for i, zone in enumerate(sf.spec.zones):
        if zone.name == INGEST_GROUP:
            raise sf.error(
                ("zones", i, "name"),
                f"'{INGEST_GROUP}' is the group of the Airbyte sync tasks; name the zone otherwise",
            )
        if zone.name == ARCHIVE_GROUP and sf.spec.ingest and sf.spec.ingest.event_streams:
            raise sf.error(
                ("zones", i, "name"),
                f"'{ARCHIVE_GROUP}' is the group of the event streams' archival; name the zone otherwise",
            )
        if zone.name in seen:
            raise sf.error(("zones", i, "name"), f"zone '{zone.name}' is declared twice")
        seen.add(zone.name)


def spec_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Spec files named or found below the given paths, sorted; JSON Schema files are skipped."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(q for q in p.glob("*.y*ml") if q.suffix in (".yml", ".yaml")))
        else:
            found.append(p)
    return found


def find_spec(pipeline: str, specs_dir: str) -> Path:
    """A spec by path, or by pipeline id (its file stem or its ``pipeline:`` key)."""
    candidate = Path(pipeline)
    if candidate.suffix in (".yml", ".yaml") and candidate.exists():
        return candidate
    files = spec_paths([specs_dir])
    for path in files:
        if path.stem == pipeline:
            return path
    for path in files:
        try:
            if load_spec(path).spec.pipeline == pipeline:
                return path
        except SluiceError:
            continue
    known = ", ".join(p.stem for p in files) or "none"
    raise SluiceError(f"no pipeline '{pipeline}' under {specs_dir} (known: {known})")
