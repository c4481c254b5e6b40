"""Which nodes a selector selects, without testing every selector against every node.

A spec of a real project names hundreds of selectors (folders, and models one by one to keep
zones ordered); testing each against thousands of nodes was most of a cold plan. The index
looks plain selectors up by path prefix, tag, package, resource type and fqn prefix, and scans
the nodes only for a selector with a wildcard, with its pattern compiled once. It answers
exactly what :func:`sluice.manifest.selector.matches` answers (a test holds the two together).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from fnmatch import translate

from sluice.manifest.reader import Node
from sluice.manifest.selector import matches

_WILD = re.compile(r"[*?\[]")


class NodeIndex:
    """The nodes of one manifest (or a subset), indexed for selector lookups."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes = list(nodes)
        self._memo: dict[str, frozenset[str]] = {}
        self._by = _Lookups(self.nodes)

    @functools.cached_property
    def _paths(self) -> list[tuple[str, int]]:
        return sorted((n.original_file_path, i) for i, n in enumerate(self.nodes))

    def select(self, selector: str) -> frozenset[str]:
        """The unique ids of the nodes ``selector`` selects."""
        found = self._memo.get(selector)
        if found is None:
            found = self._memo[selector] = frozenset(self._lookup(selector))
        return found

    def _lookup(self, selector: str) -> set[str]:
        method, sep, value = selector.partition(":")
        if not sep:
            method, value = ("path" if "/" in selector or selector.endswith(".sql") else "fqn"), selector
        if _WILD.search(value) or method not in ("path", "tag", "fqn", "package", "resource_type"):
            return self._scan(selector)
        if method == "path":
            return self._under(value.rstrip("/"))
        if method == "fqn":
            parts = tuple(value.split("."))
            found = set(self._by["fqn"].get(parts, ()))
            return found | set(self._by["name"].get(value, ())) if len(parts) == 1 else found
        return set(self._by[method].get(value, ()))

    def _under(self, folder: str) -> set[str]:
        """Nodes whose path is ``folder`` or lies below it: one range of the sorted paths."""
        found: set[str] = set()
        start = bisect.bisect_left(self._paths, (folder, -1))
        for path, i in self._paths[start:]:
            if path != folder and not path.startswith(folder):
                break
            if path == folder or path.startswith(folder + "/"):
                found.add(self.nodes[i].unique_id)
        return found

    def _scan(self, selector: str) -> set[str]:
        method, _, value = selector.partition(":")
        if method == "tag":  # one compiled pattern against the index's tags, not every node
            pattern = re.compile(translate(value))
            return {uid for tag, uids in self._by["tag"].items() if pattern.match(str(tag)) for uid in uids}
        return {n.unique_id for n in self.nodes if matches(n, selector)}


class _Lookups(dict[str, dict[object, set[str]]]):
    """Unique ids by tag, package, resource type, name or fqn prefix: each table made when a
    selector first needs it (most specs select by path alone; fqn prefixes are most of the cost)."""

    def __init__(self, nodes: list[Node]) -> None:
        super().__init__()
        self.nodes = nodes

    def __missing__(self, method: str) -> dict[object, set[str]]:
        table: dict[object, set[str]] = defaultdict(set)
        for node in self.nodes:
            for key in _keys(node, method):
                table[key].add(node.unique_id)
        self[method] = table
        return table


#: the Node field a plain lookup reads
_FIELD = {"package": "package_name", "resource_type": "resource_type", "name": "name"}


def _keys(node: Node, method: str) -> Iterable[object]:
    if method == "tag":
        return node.tags
    if method == "fqn":  # dbt matches an fqn with or without its package
        return [fqn[:end] for fqn in (node.fqn, node.fqn[1:]) for end in range(1, len(fqn) + 1)]
    return (getattr(node, _FIELD[method]),)
