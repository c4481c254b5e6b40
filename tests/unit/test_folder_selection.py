"""A zone build's selection by folder: a folder is named once, as `path:`, only when every node
dbt's path method would select there belongs to the zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.runtime.folder_selection import FolderIndex

pytestmark = pytest.mark.unit

NODES = [
    ("seed.shop.s1", "seed", "seeds/s1.csv"),
    ("seed.shop.s2", "seed", "seeds/s2.csv"),
    ("model.shop.a", "model", "models/silver/a.sql"),
    ("model.shop.b", "model", "models/silver/core/b.sql"),
    ("test.shop.not_null_a_id", "test", "models/silver/_silver.yml"),
    ("model.shop.g", "model", "models/gold/g.sql"),
    ("exposure.shop.dash", "exposure", "models/gold/_exposures.yml"),
    ("model.shop.stg", "model", "models/bronze/stg.sql"),
    ("source.shop.raw.t", "source", "models/bronze/_sources.yml"),
    ("model.shop.x", "model", "models/mixed/x.sql"),
    ("model.shop.y", "model", "models/mixed/y.sql"),
    ("model.shop.z", "model", "models/mixed/deep/z.sql"),
    # a package's model, whose path dbt compares within its package: `path:models/pkg` takes it too
    ("model.pkg.p", "model", "models/pkg/p.sql"),
    ("model.shop.q", "model", "models/pkg/q.sql"),
]


@pytest.fixture
def index(tmp_path: Path) -> FolderIndex:
    for _, _, path in NODES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    return FolderIndex(tmp_path, NODES, {uid: f"fqn:{uid}" for uid, _, _ in NODES})


def test_a_folder_of_the_zones_nodes_only_is_named_once(index: FolderIndex) -> None:
    silver = ["model.shop.a", "model.shop.b", "test.shop.not_null_a_id"]
    assert index.cover(silver) == (["models/silver"], set())
    assert index.cover(["seed.shop.s1", "seed.shop.s2"]) == (["seeds"], set())


def test_a_folder_with_a_node_of_another_zone_is_not(index: FolderIndex) -> None:
    folders, left = index.cover(["model.shop.x", "model.shop.z"])
    assert folders == ["models/mixed/deep"]
    assert left == {"model.shop.x"}
    folders, left = index.cover(["model.shop.a", "model.shop.b"])  # the test is elsewhere
    assert folders == ["models/silver/core"]
    assert left == {"model.shop.a"}


def test_exposures_do_not_matter_sources_and_other_packages_do(index: FolderIndex) -> None:
    assert index.cover(["model.shop.g"]) == (["models/gold"], set())
    # a selected source would bring its tests into the build (dbt's indirect selection)
    assert index.cover(["model.shop.stg"]) == ([], {"model.shop.stg"})
    assert index.cover(["model.shop.q"]) == ([], {"model.shop.q"})


def test_a_folder_dbt_could_not_find_or_would_read_as_a_pattern_is_not_named(tmp_path: Path) -> None:
    nodes = [
        ("model.shop.a", "model", "models/gone/a.sql"),
        ("model.shop.b", "model", "models/[x]/b.sql"),
        ("model.shop.c", "model", "models/c.sql"),
    ]
    (tmp_path / "models" / "[x]").mkdir(parents=True)
    folders, left = FolderIndex(tmp_path, nodes, {}).cover(["model.shop.a", "model.shop.b"])
    assert folders == [] and left == {"model.shop.a", "model.shop.b"}


def test_unknown_nodes_stay_named_one_by_one(index: FolderIndex) -> None:
    assert index.cover(["model.other.m"]) == ([], {"model.other.m"})


def test_a_zone_builds_select_list_is_rewritten_and_nothing_else(index: FolderIndex) -> None:
    select = ["fqn:model.shop.a", "fqn:model.shop.b", "fqn:test.shop.not_null_a_id", "fqn:model.shop.x"]
    args = ["--vars", "{}", "--select", *select, "--indirect-selection", "cautious"]
    assert index.fewer_selectors(args) == [
        "--vars",
        "{}",
        "--select",
        "path:models/silver",
        "fqn:model.shop.x",
        "--indirect-selection",
        "cautious",
    ]
    # a selector the index does not know could mean anything: the list stays as it is
    odd = ["--select", "tag:nightly", *select]
    assert index.fewer_selectors(odd) == odd
