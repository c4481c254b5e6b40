"""Fewer selectors for a zone build, with the same meaning.

A zone build names its nodes one by one (`fqn:` selectors), and dbt matches every selector
against every node of the project: at 1,000 models the silver zone's 1,669 selectors cost ~15 s
before dbt builds anything. Most zones are folders, so a folder all of whose nodes belong to the
zone is named once instead, as `path:FOLDER`, which dbt's path method reads as "every node whose
file lies under FOLDER" (packages included: it compares paths within each package). The
remaining nodes keep their own selectors.

Standard library only: it runs in the dbt worker (see dbt_worker), which may live in a separate
dbt virtualenv.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

#: the manifest's collections whose nodes dbt's path method looks at
SELECTABLE = ("nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests")
#: resource types a `dbt build` neither runs nor selects tests through, so a folder may hold them
#: without changing what the build does
INERT = frozenset({"exposure", "metric", "semantic_model"})
_GLOB = re.compile(r"[*?\[\]]")


class FolderIndex:
    """Which nodes dbt's `path:` selects in each folder of the project."""

    def __init__(
        self, project_dir: Path, nodes: Iterable[tuple[str, str, str]], selectors: Mapping[str, str]
    ) -> None:
        """``nodes``: (unique id, resource type, original file path) of every node dbt can select;
        ``selectors``: the selector a zone build names a node by, per unique id."""
        self.project_dir = project_dir
        self._selector = selectors
        self._named: dict[str, list[str]] = defaultdict(list)
        for unique_id, selector in selectors.items():
            self._named[selector].append(unique_id)
        self._under: dict[str, set[str]] = defaultdict(set)
        self._folders: dict[str, tuple[str, ...]] = {}
        for unique_id, resource_type, path in nodes:
            folders = tuple(str(p) for p in reversed(PurePosixPath(path).parents) if str(p) != ".")
            self._folders[unique_id] = folders
            if resource_type not in INERT:
                for folder in folders:
                    self._under[folder].add(unique_id)

    def cover(self, wanted: Iterable[str]) -> tuple[list[str], set[str]]:
        """The folders whose every node is in ``wanted`` (none inside another), and the nodes of
        ``wanted`` no such folder holds."""
        allowed = set(wanted)
        left = set(allowed)
        candidates = {folder for unique_id in allowed for folder in self._folders.get(unique_id, ())}
        chosen: list[str] = []
        # shallowest first: a chosen folder takes every node of the folders inside it
        for folder in sorted(candidates, key=lambda f: (f.count("/"), f)):
            members = self._under[folder]
            if not members & left or not members <= allowed or _GLOB.search(folder):
                continue
            if (self.project_dir / folder).is_dir():  # dbt globs the selector under the project
                chosen.append(folder)
                left -= members
        return chosen, left

    def fewer_selectors(self, args: list[str]) -> list[str]:
        """``args`` with its ``--select`` list, one selector per node, named by folder where it can
        be; as they are when a selector is not one of ``selectors``."""
        if "--select" not in args:
            return args
        start = args.index("--select") + 1
        end = next((i for i in range(start, len(args)) if args[i].startswith("--")), len(args))
        if not all(s in self._named for s in args[start:end]):
            return args
        folders, left = self.cover(uid for s in args[start:end] for uid in self._named[s])
        rest = sorted({self._selector[uid] for uid in left})
        return [*args[:start], *(f"path:{folder}" for folder in folders), *rest, *args[end:]]
