"""dbt's node selection syntax as specs may write it: one string is a union of space-separated
terms, each term an intersection of comma-separated criteria (``tag:a,config.materialized:table``),
each criterion ``method:value`` or a bare name or path. Graph operators (``+``, ``@``) are refused.

This module only reads and checks the words; sluice.manifest.selector says which nodes match.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum


class Place(StrEnum):
    """Where a selector stands in a spec: what it may select depends on it."""

    ZONE = "zone"  # zones[].select: nodes sluice builds (models, seeds, snapshots)
    SELECT = "select"  # dbt.select: the nodes and tests the pipeline covers
    EXCLUDE = "exclude"  # dbt.exclude: nodes, tests and sources left out


#: the methods a spec may name, as dbt spells them
METHODS = (
    "path",
    "file",
    "fqn",
    "tag",
    "package",
    "resource_type",
    "config",
    "group",
    "access",
    "version",
    "test_type",
    "test_name",
    "source",
)
#: dbt config keys sluice reads from the manifest, so a ``config.<key>`` selector may name them;
#: the nested ones are read to any depth (``config.meta.layer:gold``)
CONFIG_KEYS = (
    "materialized",
    "schema",
    "database",
    "alias",
    "group",
    "access",
    "tags",
    "enabled",
    "severity",
    "incremental_strategy",
    "on_schema_change",
    "unique_key",
    "full_refresh",
)
NESTED_CONFIG_KEYS = ("meta", "contract")
TEST_TYPES = ("generic", "schema", "singular", "data", "unit")
VERSIONS = ("latest", "prerelease", "old", "none")
ACCESS_LEVELS = ("private", "protected", "public")
#: methods whose nodes sluice never builds, so a zone selecting by them alone holds nothing
_NOT_BUILT = {
    "test_type": "tests, which follow the models they test into their zone; use it in dbt.exclude",
    "test_name": "tests, which follow the models they test into their zone; use it in dbt.exclude",
    "source": "dbt sources, which sluice does not build (dbt writes source:x+ for the models "
    "reading one, a graph operator sluice does not take): select those models by path, tag or "
    "group, or use source: in dbt.exclude to skip a source's freshness check",
}
_CRITERION = re.compile(r"^(?:(?P<method>[A-Za-z_][\w.-]*):)?(?P<value>\S*)$")
_DEPTH_FIRST = re.compile(r"^\d*\+")
_DEPTH_LAST = re.compile(r"\+\d*$")


@dataclass(frozen=True, slots=True)
class Criterion:
    """One ``method:value``; ``args`` is the config key path of ``config.<key>...``."""

    method: str
    args: tuple[str, ...]
    value: str

    @property
    def text(self) -> str:
        return ".".join((self.method, *self.args)) + ":" + self.value


#: criteria that must all match (dbt's comma)
Term = tuple[Criterion, ...]


def default_method(value: str) -> str:
    """dbt's method for a bare value: a path if it has a slash, a file if it names one, else a name."""
    if "/" in value or "\\" in value:
        return "path"
    if value.lower().endswith((".sql", ".py", ".csv")):
        return "file"
    return "fqn"


@functools.lru_cache(maxsize=4096)
def parse(raw: str) -> tuple[Term, ...]:
    """The terms of one selector string (dbt's space is a union, its comma an intersection);
    raises ValueError saying what is wrong and how to write it."""
    terms = tuple(tuple(_criterion(raw, part) for part in word.split(",")) for word in raw.split())
    if not terms:
        raise ValueError("an empty selector; write method:value, e.g. path:models/bronze")
    return terms


def _criterion(raw: str, part: str) -> Criterion:
    if part.startswith("@") or _DEPTH_FIRST.match(part) or _DEPTH_LAST.search(part):
        raise ValueError(f"'{raw}': graph operators (+, @) are not supported here; name the nodes")
    match = _CRITERION.match(part)
    if match is None or not match.group("value"):
        raise ValueError(f"'{raw}' is not a selector; write method:value, e.g. path:models/bronze")
    value = match.group("value")
    written = match.group("method")
    if written is None:
        return Criterion(default_method(value), (), value)
    method, *args = written.split(".")
    if method not in METHODS:
        why = _EXPOSURE if method == "exposure" else f"use one of {', '.join(METHODS)}"
        raise ValueError(f"unknown selector method '{method}' in '{raw}'; {why}")
    _check_value(raw, method, tuple(args), value)
    return Criterion(method, tuple(args), value)


_EXPOSURE = (
    "an exposure is never built, and the models behind it are +exposure:x in dbt, a graph "
    "operator sluice does not take: select those models by path, tag or group"
)


def _check_value(raw: str, method: str, args: tuple[str, ...], value: str) -> None:
    """dbt refuses these at run time; a spec refuses them when it is read."""
    if method != "config" and args:
        raise ValueError(f"'{raw}': {method} takes no '.{'.'.join(args)}'; write {method}:value")
    if method == "config":
        _check_config_key(raw, args)
    allowed = {"test_type": TEST_TYPES, "version": VERSIONS, "access": ACCESS_LEVELS}.get(method)
    if allowed is not None and value not in allowed:
        raise ValueError(f"'{raw}': {method} is one of {', '.join(allowed)}")
    if method == "source" and not 1 <= len(value.split(".")) <= 3:
        raise ValueError(f"'{raw}': write source:name, source:name.table or source:package.name.table")


def _check_config_key(raw: str, args: tuple[str, ...]) -> None:
    if not args or not all(args):
        raise ValueError(f"'{raw}': name the config key, e.g. config.materialized:incremental")
    key = args[0]
    if key in NESTED_CONFIG_KEYS:
        if len(args) < 2:
            raise ValueError(f"'{raw}': name a key inside {key}, e.g. config.{key}.<key>:value")
        return
    if key not in CONFIG_KEYS or len(args) > 1:
        known = ", ".join([*CONFIG_KEYS, *(f"{k}.<key>" for k in NESTED_CONFIG_KEYS)])
        written = ".".join(args)
        raise ValueError(f"'{raw}': sluice reads config.{{{known}}} of the manifest, not config.{written}")


def check(raw: str, place: Place) -> str:
    """``raw`` if it is a selector a spec may write at ``place``; else ValueError."""
    terms = parse(raw)
    if place is Place.EXCLUDE:
        return raw
    for term in terms:
        for criterion in term:
            why = _NOT_BUILT.get(criterion.method)
            if why is None:
                continue
            if place is Place.ZONE or criterion.method == "source":
                raise ValueError(f"'{raw}': {criterion.method}: selects {why}")
    return raw
