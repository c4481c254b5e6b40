"""`sluice new NAME`: a valid spec whose zones come from the project's folders, in build order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice.cli import main
from sluice.manifest.reader import load_manifest, parse_manifest
from sluice.new_pipeline import propose_zones
from sluice.plan.from_spec import plan_spec
from sluice.spec.reader import load_spec
from tests.conftest import CORPUS_DIR, DEMO_MANIFEST, REPO
from tests.unit.manifests import m, manifest, node

MANIFESTS = [DEMO_MANIFEST, *sorted(CORPUS_DIR.glob("*.json"))]


def new(name: str, specs: Path, manifest: Path) -> int:
    return main(
        ["new", name, "--specs", str(specs), "--manifest", str(manifest), "--dbt-project", str(REPO / "dbt")]
    )


@pytest.mark.parametrize("found", MANIFESTS, ids=lambda p: p.stem)
def test_new_writes_a_spec_that_validates_and_plans_every_node_in_order(
    found: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert new("fresh", tmp_path, found) == 0, capsys.readouterr()
    assert "1 spec(s) valid" in capsys.readouterr().err
    plan = plan_spec(load_spec(tmp_path / "fresh.yml"), str(found))
    # every model of the root project has its run task, and sits in exactly one zone
    read = load_manifest(found)
    models = {
        n.unique_id
        for n in read.nodes.values()
        if n.resource_type == "model"
        and n.enabled
        and not n.is_ephemeral
        and n.package_name == read.project_name
    }
    zone_of = {t.node: t.zone for t in plan.tasks if t.kind.value == "run"}
    assert models <= zone_of.keys()
    # no model reads a model of a later zone
    order = {z: i for i, z in enumerate(plan.zones)}
    for uid, zone in zone_of.items():
        for dep in read.nodes[uid].depends_on:
            if dep in zone_of:
                assert order[zone_of[dep]] <= order[zone], (uid, dep)


def test_the_demo_project_gets_its_three_layers_with_seeds_first() -> None:
    zones = propose_zones(load_manifest(DEMO_MANIFEST))
    assert [name for name, _ in zones] == ["bronze", "silver", "gold"]
    assert zones[0][1][0] == "path:seeds"
    assert any("path:snapshots" in selectors for _, selectors in zones[1:])


def _project(*nodes: tuple[str, dict[str, object]], tmp_path: Path) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest(*nodes)))
    return path


def test_folders_are_ordered_by_their_dependencies_not_their_names() -> None:
    # "marts" would sort first by layer name, but here it is read by "alpha"
    built = parse_manifest(
        manifest(
            node("model", "a", (m("z"),), path="models/alpha/a.sql"),
            node("model", "z", path="models/marts/z.sql"),
            node("model", "s", path="models/staging/s.sql"),
        )
    )
    zones = propose_zones(built)
    names = [name for name, _ in zones]
    assert names.index("marts") < names.index("alpha")
    # with no edge between them, the usual layer decides: staging before marts
    assert names.index("staging") < names.index("marts")


def test_folders_that_read_each_other_both_ways_become_one_zone() -> None:
    built = parse_manifest(
        manifest(
            node("model", "a1", path="models/a/a1.sql"),
            node("model", "b1", (m("a1"),), path="models/b/b1.sql"),
            node("model", "a2", (m("b1"),), path="models/a/a2.sql"),
            node("model", "c1", (m("a2"),), path="models/c/c1.sql"),
        )
    )
    assert propose_zones(built) == [("a_b", ["path:models/a", "path:models/b"]), ("c", ["path:models/c"])]


def test_seeds_and_snapshots_join_the_zone_that_reads_them() -> None:
    built = parse_manifest(
        manifest(
            node("seed", "countries"),
            node("model", "stg", ("seed.shop.countries",), path="models/staging/stg.sql"),
            node("snapshot", "snap", (m("stg"),)),
            node("model", "mart", ("snapshot.shop.snap",), path="models/marts/mart.sql"),
        )
    )
    assert propose_zones(built) == [
        ("staging", ["path:seeds", "path:models/staging"]),
        ("marts", ["path:snapshots", "path:models/marts"]),
    ]


def test_odd_folder_names_are_quoted_or_their_models_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = _project(
        node("model", "x", path="models/odd#folder/x.sql"),
        node("model", "y", (m("x"),), path="models/with space/y.sql"),
        node("model", "z", (m("y"),), path="models/a,b/z.sql"),
        tmp_path=tmp_path,
    )
    assert new("odd", tmp_path, found) == 0, capsys.readouterr()
    spec = load_spec(tmp_path / "odd.yml").spec
    # a folder with a space or a comma cannot be a path selector (dbt reads a union or an
    # intersection): its models are named one by one
    assert [z.select for z in spec.zones] == [("path:models/odd#folder",), ("y",), ("z",)]


def test_from_airbyte_adds_the_sync_before_the_first_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = tmp_path / "dags" / "pipelines"
    args = ["new", "synced", "--specs", str(specs), "--from-airbyte", "payments_raw"]
    args += ["--dbt-project", str(REPO / "dbt"), "--manifest", str(DEMO_MANIFEST)]
    assert main(args) == 0, capsys.readouterr()
    plan = plan_spec(load_spec(specs / "synced.yml"), str(DEMO_MANIFEST))
    assert [t.id for t in plan.tasks if t.kind.value == "ingest"] == ["ingest.payments_raw"]


@pytest.mark.parametrize(
    ("name", "setup", "expected"),
    [
        (
            "1st",
            None,
            "sluice new: pipeline name '1st' must start with a letter and hold only letters, digits and _",
        ),
        ("taken", "taken.yml", "sluice new: {specs}/taken.yml exists; pick another name or edit that spec"),
        ("claimed", "other.yml", "sluice new: {specs}/other.yml already defines pipeline 'claimed'"),
    ],
)
def test_new_refuses_with_one_line(
    name: str, setup: str | None, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if setup:
        (tmp_path / setup).write_text(
            (REPO / "dags/pipelines/payments_daily.yml")
            .read_text()
            .replace("pipeline: payments_daily", f"pipeline: {name}")
        )
    args = ["new", name, "--specs", str(tmp_path), "--manifest", str(DEMO_MANIFEST)]
    assert main(args) == 1
    assert capsys.readouterr().err.strip() == expected.format(specs=tmp_path)


def test_new_without_a_manifest_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "x", "--specs", str(tmp_path), "--dbt-project", str(tmp_path / "proj")]) == 1
    err = capsys.readouterr().err.strip()
    proj = tmp_path / "proj"
    assert err == f"sluice new: no manifest at {proj}/target/manifest.json; run `dbt parse` in {proj} first"
    assert not (tmp_path / "x.yml").exists()
