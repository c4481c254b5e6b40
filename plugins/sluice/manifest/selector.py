"""Match manifest nodes against the subset of dbt's node selection syntax specs may use."""

from __future__ import annotations

from fnmatch import fnmatchcase

from sluice.manifest.reader import Node


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


def matches(node: Node, selector: str) -> bool:
    """True when ``node`` is selected by one selector such as ``path:models/bronze`` or ``tag:pii``."""
    method, sep, value = selector.partition(":")
    if not sep:
        method, value = ("path" if "/" in selector or selector.endswith(".sql") else "fqn"), selector
    if method == "path":
        return _path_matches(node, value)
    if method == "tag":
        return any(fnmatchcase(tag, value) for tag in node.tags)
    if method == "fqn":
        return _fqn_matches(node, value)
    if method == "package":
        return fnmatchcase(node.package_name, value)
    if method == "resource_type":
        return node.resource_type == value
    raise ValueError(f"unknown selector method {method!r}")
