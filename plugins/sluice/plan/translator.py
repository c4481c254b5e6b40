"""The seam that names things: dbt node → task name, dbt selector. Override to rename."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from sluice.manifest.reader import Node

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
_SUFFIX = {"model": "run", "seed": "seed", "snapshot": "snapshot"}


class Translator:
    """Maps dbt nodes to Airflow task names and dbt selectors, one small decision per method."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        # names two packages share; names that clash within one package get a suffix in the plan
        packages: dict[str, set[str]] = defaultdict(set)
        for node in nodes:
            packages[self.base_name(node)].add(node.package_name)
        self._clashes = {name for name, found in packages.items() if len(found) > 1}

    def base_name(self, node: Node) -> str:
        name = node.name if node.version is None else f"{node.name}_v{node.version}"
        return _UNSAFE.sub("_", name)

    def node_name(self, node: Node) -> str:
        """The model's name, prefixed by its package where two packages share the name."""
        base = self.base_name(node)
        return f"{_UNSAFE.sub('_', node.package_name)}__{base}" if base in self._clashes else base

    def build_task_name(self, node: Node) -> str:
        name, suffix = self.node_name(node), _SUFFIX[node.resource_type]
        return name if name.endswith(f"_{suffix}") else f"{name}_{suffix}"

    def test_task_name(self, node: Node) -> str:
        return f"{self.node_name(node)}_test"

    def source_selector(self, source: Node) -> str:
        """Selects exactly this source: ``source:package.source.table``, read from its unique id
        (``source.package.source.table``), or by its fqn when names hold dots."""
        parts = source.unique_id.split(".")
        return "source:" + ".".join(parts[1:]) if len(parts) == 4 else self.dbt_selector(source)

    def dbt_selector(self, node: Node) -> str:
        """Selects exactly this node: its full fqn is unique within a project."""
        return "fqn:" + ".".join(node.fqn)
