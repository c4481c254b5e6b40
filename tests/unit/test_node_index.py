"""The selector index answers exactly what testing each node with `matches` answers."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.cli import main
from sluice.manifest import node_index, reader
from sluice.manifest.node_index import NodeIndex
from sluice.manifest.reader import Manifest, parse_manifest
from sluice.manifest.selector import matches
from sluice.spec.selectors import parse
from tests.conftest import CORPUS_DIR, DEMO_MANIFEST


@cache
def manifests() -> tuple[Manifest, ...]:
    paths = [*sorted(CORPUS_DIR.glob("*.json")), DEMO_MANIFEST]
    return tuple(parse_manifest(json.loads(p.read_text()), str(p)) for p in paths)


def brute_force(manifest: Manifest, selector: str) -> frozenset[str]:
    every = [*manifest.nodes.values(), *manifest.sources.values()]
    return frozenset(n.unique_id for n in every if matches(n, selector, manifest.project_name))


def real_selectors(manifest: Manifest) -> list[str]:
    """Selectors as specs write them, from the manifest's own folders, tags, names and fqns."""
    found: set[str] = set()
    for node in manifest.nodes.values():
        parts = node.original_file_path.split("/")
        for end in range(1, len(parts) + 1):
            folder = "/".join(parts[:end])
            found |= {f"path:{folder}", f"path:{folder}/", folder, f"path:{folder[:-1]}*"}
        found |= {f"tag:{t}" for t in node.tags} | {f"tag:{t[:2]}*" for t in node.tags}
        found |= {f"package:{node.package_name}", f"resource_type:{node.resource_type}", node.name}
        found |= {"fqn:" + ".".join(node.fqn[:end]) for end in range(1, len(node.fqn) + 1)}
        found |= {"fqn:" + ".".join(node.fqn[1:]), f"fqn:*.{node.name}", f"{node.name[:3]}*"}
        found |= {f"config.materialized:{node.materialized}", f"config.schema:{node.config.schema}"}
        found |= {f"group:{node.group}", f"access:{node.access}", f"test_name:{node.test_name}"}
        found |= {f"tag:{t},config.materialized:{node.materialized}" for t in node.tags}
        found |= {f"file:{node.original_file_path.rsplit('/', 1)[-1]}", "package:this"}
        found |= {f"source:{node.source_name}", f"source:{node.source_name}.{node.name}"}
        found |= {f"path:{parts[0]} config.severity:warn", "test_type:generic", "test_type:singular"}
    return sorted(s for s in found if "None" not in s)


def test_every_selector_of_the_real_manifests_selects_the_same_nodes() -> None:
    for manifest in manifests():
        index = NodeIndex([*manifest.nodes.values(), *manifest.sources.values()], manifest.project_name)
        selectors = real_selectors(manifest)
        for selector in random.Random(0).sample(selectors, min(len(selectors), 600)):
            assert index.select(selector) == brute_force(manifest, selector), selector


METHODS = ["", "path:", "file:", "tag:", "fqn:", "package:", "resource_type:", "config.materialized:"]
METHODS += ["config.schema:", "config.meta.owner:", "group:", "test_name:", "source:", "config.tags:"]


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    method=st.sampled_from(METHODS),
    value=st.text(alphabet="abcdefgimnorstuz_/.*?[]", min_size=1, max_size=14),
    other=st.sampled_from(["", " tag:*", ",resource_type:model", ",config.materialized:view"]),
)
def test_any_selector_selects_the_same_nodes(method: str, value: str, other: str) -> None:
    manifest = manifests()[-1]
    selector = method + value + other
    try:
        parse(selector)
    except ValueError:
        return  # a spec refuses it when it is read; neither answers
    assert manifest.index.select(selector) == brute_force(manifest, selector)


def test_twenty_specs_on_one_manifest_read_and_index_it_once(
    specs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sluice validate` in CI: many specs share the project's manifest."""
    demo = (specs / "payments_daily.yml").read_text()
    for i in range(19):
        (specs / f"p{i}.yml").write_text(demo.replace("pipeline: payments_daily", f"pipeline: p{i}"))
    reads, indexes = [], []
    monkeypatch.setattr(reader, "parse_manifest", counted(reader.parse_manifest, reads))
    monkeypatch.setattr(node_index.NodeIndex, "__init__", counted(node_index.NodeIndex.__init__, indexes))
    reader._load.cache_clear()
    assert main(["validate", str(specs)]) == 0
    assert (len(reads), len(indexes)) == (1, 1)


def counted(function: Callable[..., Any], calls: list[None]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(None)
        return function(*args, **kwargs)

    return wrapper
