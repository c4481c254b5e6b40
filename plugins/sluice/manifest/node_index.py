"""Which nodes a selector selects, without testing every selector against every node.

A spec of a real project names hundreds of selectors (folders, and models one by one to keep
zones ordered); testing each against thousands of nodes was most of a cold plan. The index
looks each criterion of a selector up in a table made once per method (per config key for
``config.<key>``), and scans only for a criterion with a wildcard: the table's keys where it
has them (tags, groups, test names, files), else the nodes with the pattern compiled once. A
selector's terms are unions and intersections of those answers. It answers exactly what
:func:`sluice.manifest.selector.matches` answers (a test holds the two together).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from fnmatch import translate

from sluice.manifest.reader import Node
from sluice.manifest.selector import (
    config_keys,
    config_lookups,
    config_value,
    criterion_matches,
    file_names,
    source_parts,
    test_types,
    version_kind,
)
from sluice.spec.selectors import Criterion, parse

_WILD = re.compile(r"[*?\[]")
#: methods whose wildcard values are matched against the table's keys, not each node
_KEYED_SCAN = frozenset({"tag", "group", "test_name", "file", "package"})
#: methods dbt matches exactly, whatever characters the value holds
_EXACT = frozenset({"resource_type", "config", "access", "version", "test_type"})


class NodeIndex:
    """The nodes of one manifest (or a subset), indexed for selector lookups; ``project`` is
    the root project, dbt's ``package:this``."""

    def __init__(self, nodes: Iterable[Node], project: str = "") -> None:
        self.nodes = list(nodes)
        self.project = project
        self._memo: dict[str, frozenset[str]] = {}
        self._criteria: dict[Criterion, frozenset[str]] = {}
        self._by = _Lookups(self.nodes)

    @functools.cached_property
    def _paths(self) -> list[tuple[str, int]]:
        return sorted((n.original_file_path, i) for i, n in enumerate(self.nodes))

    def select(self, selector: str) -> frozenset[str]:
        """The unique ids of the nodes ``selector`` selects."""
        found = self._memo.get(selector)
        if found is None:
            found = frozenset().union(
                *(frozenset.intersection(*(self._criterion(c) for c in term)) for term in parse(selector))
            )
            self._memo[selector] = found
        return found

    def _criterion(self, criterion: Criterion) -> frozenset[str]:
        found = self._criteria.get(criterion)
        if found is None:
            found = self._criteria[criterion] = frozenset(self._lookup(criterion))
        return found

    def _lookup(self, criterion: Criterion) -> set[str]:
        method, value = criterion.method, criterion.value
        if method == "package" and value == "this" and self.project:
            value = self.project
        if method not in _EXACT and _WILD.search(value):
            return self._scan(criterion, value)
        if method == "path":
            return self._under(value.rstrip("/"))
        if method == "fqn":
            parts = tuple(value.split("."))
            found = set(self._by["fqn"].get(parts, ()))
            return found | set(self._by["name"].get(value, ())) if len(parts) == 1 else found
        if method == "config":
            table = self._by[".".join(("config", *criterion.args))]
            return set().union(*(table.get(key, ()) for key in config_lookups(criterion)))
        if method == "source":
            return set(self._by["source"].get(source_parts(value), ()))
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

    def _scan(self, criterion: Criterion, value: str) -> set[str]:
        method = criterion.method
        if method in _KEYED_SCAN:  # one compiled pattern against the table's keys, not every node
            pattern = re.compile(translate(value))
            return {uid for key, uids in self._by[method].items() if pattern.match(str(key)) for uid in uids}
        return {n.unique_id for n in self.nodes if criterion_matches(n, criterion, self.project)}


class _Lookups(dict[str, dict[Hashable, set[str]]]):
    """Unique ids by tag, package, resource type, name, fqn prefix, config value, ...: each table
    made when a selector first needs it (most specs select by path alone; fqn prefixes are most
    of the cost)."""

    def __init__(self, nodes: list[Node]) -> None:
        super().__init__()
        self.nodes = nodes

    def __missing__(self, method: str) -> dict[Hashable, set[str]]:
        table: dict[Hashable, set[str]] = defaultdict(set)
        for node in self.nodes:
            for key in _keys(node, method):
                table[key].add(node.unique_id)
        self[method] = table
        return table


def _version_keys(node: Node) -> tuple[str, ...]:
    kind = version_kind(node)
    return (kind,) if kind else ()


#: the keys a node is found by in each method's table
_KEYS: dict[str, Callable[[Node], Iterable[Hashable]]] = {
    "tag": lambda n: n.tags,
    "package": lambda n: (n.package_name,),
    "resource_type": lambda n: (n.resource_type,),
    "file": file_names,
    # dbt matches an fqn with or without its package
    "fqn": lambda n: [fqn[:end] for fqn in (n.fqn, n.fqn[1:]) for end in range(1, len(fqn) + 1)],
    "name": lambda n: (n.name,),
    "group": lambda n: (n.group,) if n.group is not None else (),
    "access": lambda n: (n.access,) if n.resource_type == "model" and n.access else (),
    "version": _version_keys,
    "test_type": test_types,
    "test_name": lambda n: (n.test_name,) if n.test_name is not None else (),
}
#: the tables a source is in (dbt's methods that read sources)
_SOURCE_TABLES = frozenset({"tag", "package", "resource_type", "file"})


def _keys(node: Node, method: str) -> Iterable[Hashable]:
    """The keys a node is found by in ``method``'s table (``config.<key>...``: by its value)."""
    if method.startswith("config."):
        args = tuple(method.split(".")[1:])
        return config_keys(config_value(node, args), args == ("severity",))
    source = node.resource_type == "source"
    if method == "source":
        return _source_keys(node) if source else ()
    if source and method not in _SOURCE_TABLES:
        return ()
    return _KEYS[method](node)


def _source_keys(node: Node) -> list[tuple[str, str, str]]:
    """A source as each spelling of ``source:`` names it: source, source.table, package.source.table."""
    source, table = node.source_name or "", node.name
    return [("*", source, "*"), ("*", source, table), (node.package_name, source, table)]
