"""The zones written into dbt's docs manifest (sluice.dbt_docs), on the demo and by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice.cli import main
from sluice.dbt_docs import META_KEY, with_zones, zones_by_node
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import BUILD_KINDS
from sluice.spec.reader import load_spec
from tests.conftest import DEMO_MANIFEST, DEMO_SPEC, REPO


def test_every_node_the_demo_builds_gets_its_zone_from_the_plan() -> None:
    zones = zones_by_node([str(DEMO_SPEC.parent)], REPO / "dbt")
    plan = plan_spec(load_spec(DEMO_SPEC))
    expected = {t.node: {"payments_daily": t.zone} for t in plan.tasks if t.kind in BUILD_KINDS}
    assert zones == expected
    assert zones_by_node([str(DEMO_SPEC.parent)], REPO / "other") == {}, "specs of another project"


def test_zone_goes_into_meta_and_tags_beside_what_the_node_had() -> None:
    manifest = {
        "nodes": {
            "model.p.a": {"meta": {"owner": "x"}, "tags": ["daily"], "config": {"meta": {"owner": "x"}}},
            "model.p.b": {},
        }
    }
    zones = {
        "model.p.a": {"one": "gold"},
        "model.p.b": {"one": "bronze", "two": "silver"},
        "model.p.gone": {},
    }
    assert with_zones(manifest, zones) == 2
    a, b = manifest["nodes"]["model.p.a"], manifest["nodes"]["model.p.b"]
    assert a["meta"] == a["config"]["meta"] == {"owner": "x", META_KEY: "gold"}
    assert a["tags"] == ["daily", "zone:gold"]
    # two pipelines that disagree: each one's zone is named
    assert b["meta"][META_KEY] == "one: bronze; two: silver"
    assert b["config"]["tags"] == ["zone:bronze", "zone:silver"]


def test_sluice_docs_copies_the_site_with_zones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / "index.html").write_text("<html>dbt docs</html>")
    (generated / "catalog.json").write_text("{}")
    (generated / "manifest.json").write_bytes(DEMO_MANIFEST.read_bytes())
    out = tmp_path / "site"
    argv = [
        "docs",
        str(generated),
        str(out),
        "--dbt-project",
        str(REPO / "dbt"),
        "--specs",
        str(DEMO_SPEC.parent),
    ]
    assert main(argv) == 0
    site = json.loads((out / "manifest.json").read_text())
    assert site["nodes"]["model.payments.fraud_flags"]["meta"][META_KEY] == "gold"
    assert (out / "index.html").read_text() == "<html>dbt docs</html>"
    assert json.loads(DEMO_MANIFEST.read_text())["nodes"]["model.payments.fraud_flags"]["meta"] == {}
    (generated / "catalog.json").unlink()
    assert main(argv) == 1
    assert "no catalog.json; run `dbt docs generate` first" in capsys.readouterr().err
