"""Whether one node matches one selector, with dbt's semantics for each method
(dbt/graph/selector_methods.py): the reference that sluice.manifest.node_index answers by lookup."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from typing import Any

from sluice.manifest.reader import Node
from sluice.spec.selectors import Criterion, parse

#: dbt's selector methods that read a source
_SOURCE_METHODS = frozenset({"path", "file", "tag", "package", "resource_type", "config", "source"})


def _path_matches(node: Node, value: str) -> bool:
    value = value.rstrip("/")
    path = node.original_file_path
    if any(ch in value for ch in "*?["):
        return fnmatchcase(path, value) or fnmatchcase(path, value + "/*")
    return path == value or path.startswith(value + "/")


def _fqn_matches(node: Node, value: str) -> bool:
    parts = value.split(".")
    fqn = node.fqn
    for candidate in (fqn, fqn[1:]):
        if len(candidate) >= len(parts) and all(
            fnmatchcase(c, p) for c, p in zip(candidate, parts, strict=False)
        ):
            return True
    return len(parts) == 1 and fnmatchcase(node.name, value)


def file_names(node: Node) -> tuple[str, str]:
    """A node's file name and its stem, which dbt's ``file:`` matches."""
    name = node.original_file_path.rsplit("/", 1)[-1]
    return name, name.rsplit(".", 1)[0] if "." in name else name


def config_value(node: Node, keys: tuple[str, ...]) -> Any:
    """The config value at ``keys`` (``meta``, ``layer``), or None where the path leads nowhere."""
    value: Any = node.config
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key)
        else:
            value = getattr(value, key, None)
        if value is None:
            return None
    return value


def config_keys(value: Any, severity: bool = False) -> Iterable[str]:
    """What ``config.<key>:X`` finds a value by, as dbt compares: a string as itself (severity in
    any case), a boolean as ``\\0true``/``\\0false`` (dbt's selector 'true' in any case), a list
    by each of its items; a number or a mapping by nothing (dbt's string never equals one)."""
    for item in value if isinstance(value, list | tuple) else (value,):
        if isinstance(item, bool):
            yield "\0true" if item else "\0false"
        elif isinstance(item, str):
            yield item.upper() if severity else item


def config_lookups(criterion: Criterion) -> tuple[str, ...]:
    """The keys of :func:`config_keys` a ``config.<key>:value`` selector matches."""
    value = criterion.value
    found = [value.upper() if criterion.args == ("severity",) else value]
    if value.lower() in ("true", "false"):
        found.append("\0" + value.lower())
    return tuple(found)


def version_kind(node: Node) -> str | None:
    """A model's version as dbt's ``version:`` sorts it: latest, prerelease, old, or none."""
    if node.resource_type != "model":
        return None
    if node.version is None:
        return "none"
    if node.version == node.latest_version:
        return "latest"
    if node.latest_version is None:
        return None
    if _before(node.latest_version, node.version):
        return "prerelease"
    return "old" if _before(node.version, node.latest_version) else None


def _before(a: str, b: str) -> bool:
    """dbt compares versions as numbers when both are, else as strings."""
    try:
        return float(a) < float(b)
    except ValueError:
        return a < b


def test_types(node: Node) -> tuple[str, ...]:
    """The ``test_type:`` values that select a test (dbt: data is generic and singular; schema
    is generic's old name)."""
    if node.test_type == "generic":
        return ("generic", "schema", "data")
    if node.test_type == "singular":
        return ("singular", "data")
    return ()


def source_parts(value: str) -> tuple[str, str, str]:
    """(package, source, table) of ``source:`` (``shop``, ``shop.orders``, ``pkg.shop.orders``)."""
    parts = value.split(".")
    if len(parts) == 1:
        return "*", parts[0], "*"
    if len(parts) == 2:
        return "*", parts[0], parts[1]
    return parts[0], parts[1], ".".join(parts[2:])


def source_matches(node: Node, value: str) -> bool:
    package, source, table = source_parts(value)
    return (
        fnmatchcase(node.package_name, package)
        and fnmatchcase(node.source_name or "", source)
        and fnmatchcase(node.name, table)
    )


def _config_matches(node: Node, criterion: Criterion, _: str) -> bool:
    severity = criterion.args == ("severity",)
    found = config_keys(config_value(node, criterion.args), severity)
    return not set(found).isdisjoint(config_lookups(criterion))


def _package_matches(node: Node, criterion: Criterion, project: str) -> bool:
    value = criterion.value
    return fnmatchcase(node.package_name, project if value == "this" and project else value)


#: one function per method: (node, criterion, root project) -> whether dbt selects the node
_METHODS: dict[str, Callable[[Node, Criterion, str], bool]] = {
    "path": lambda n, c, _: _path_matches(n, c.value),
    "file": lambda n, c, _: any(fnmatchcase(name, c.value) for name in file_names(n)),
    "fqn": lambda n, c, _: _fqn_matches(n, c.value),
    "tag": lambda n, c, _: any(fnmatchcase(tag, c.value) for tag in n.tags),
    "package": _package_matches,
    "resource_type": lambda n, c, _: n.resource_type == c.value,
    "config": _config_matches,
    "group": lambda n, c, _: n.group is not None and fnmatchcase(n.group, c.value),
    "access": lambda n, c, _: n.resource_type == "model" and n.access == c.value,
    "version": lambda n, c, _: version_kind(n) == c.value,
    "test_type": lambda n, c, _: c.value in test_types(n),
    "test_name": lambda n, c, _: n.test_name is not None and fnmatchcase(n.test_name, c.value),
    "source": lambda n, c, _: n.resource_type == "source" and source_matches(n, c.value),
}


def criterion_matches(node: Node, criterion: Criterion, project: str = "") -> bool:
    """Whether ``node`` matches one ``method:value``, as dbt decides."""
    if node.resource_type == "source" and criterion.method not in _SOURCE_METHODS:
        return False
    return _METHODS[criterion.method](node, criterion, project)


def matches(node: Node, selector: str, project: str = "") -> bool:
    """True when ``node`` is selected by one selector such as ``path:models/bronze``,
    ``tag:pii`` or ``tag:a,config.materialized:table`` (``project`` is dbt's ``package:this``)."""
    return any(all(criterion_matches(node, c, project) for c in term) for term in parse(selector))
