"""Read a spec file: YAML with line numbers, environment overrides, errors as file:line: key."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import ValidationError

from sluice.errors import SluiceError, SpecError, SpecErrors
from sluice.spec.models import ENVIRONMENTS, Environment, PipelineSpec

Loc = tuple[str | int, ...]
ENV_VAR = "SLUICE_ENV"
#: where the commands look for specs when given no path
SPECS_DIR = os.environ.get("SLUICE_SPECS_DIR", "dags/pipelines")


def active_environment(value: str | None = None) -> Environment:
    """The environment whose overrides apply: the argument, else $SLUICE_ENV, else local."""
    name = value or os.environ.get(ENV_VAR) or "local"
    if name not in ENVIRONMENTS:
        raise SluiceError(f"{ENV_VAR}={name!r} is not an environment; use one of {', '.join(ENVIRONMENTS)}")
    return cast(Environment, name)


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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


def line_of(lines: Mapping[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest key of ``loc`` that the file spells out."""
    for end in range(len(loc), 0, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return lines.get(())


def display_path(path: Path) -> str:
    """The path as a user typed it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _LineLoader(yaml.SafeLoader):
    """The safe loader, used in two steps so its node tree also gives each key's line."""


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: str) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise SpecError(
                    path, key_node.start_mark.line + 1, format_loc((*loc, key)), "key appears twice"
                )
            seen.add(key)
            _index(value_node, (*loc, key), lines, path)
            lines[(*loc, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines, path)


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse one YAML document, returning its data and a map of key path to line."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(shown, None, "", f"cannot read the file: {exc.strerror}") from None
    try:
        loader = _LineLoader(text)
        try:
            # one parse: the node tree gives the lines, the same tree gives the data
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(shown, line, "", f"invalid YAML: {exc.problem or exc.context}") from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _index(node, (), lines, shown)
    return data, lines


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _errors(path: Path, lines: Mapping[Loc, int], exc: ValidationError, env: str | None) -> SpecErrors:
    found: list[SpecError] = []
    for err in exc.errors():
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
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
    return SpecFile(path, chosen, env, lines)


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
