"""Compiled plans: reused while spec and manifest bytes hold, rebuilt the moment either changes."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

import sluice.plan.compiled as compiled
from sluice.plan.compiled import load_plan, plan_path
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import Plan, Task
from sluice.spec.reader import load_spec
from tests.conftest import DEMO_SPEC, REPO
from tests.unit.manifests import m, manifest, node

SPEC = """\
pipeline: shop
dbt: {manifest: manifest.json}
zones:
  - name: bronze
    select: [path:models/bronze]
  - name: gold
    select: [path:models/gold]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLUICE_PLAN_DIR", str(tmp_path / "plans"))
    (tmp_path / "p.yml").write_text(SPEC)
    raw = manifest(
        node("model", "a", path="models/bronze/a.sql"),
        node("model", "b", (m("a"),), path="models/gold/b.sql"),
        node("test", "t", (m("b"),)),
    )
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    return tmp_path


def count_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def counting(sf, manifest=None):  # type: ignore[no-untyped-def]
        calls.append(1)
        return plan_spec(sf, manifest)

    monkeypatch.setattr(compiled, "plan_spec", counting)
    return calls


def test_round_trip_keeps_every_field(project: Path) -> None:
    plan = plan_spec(load_spec(project / "p.yml"))
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert [t.doc for t in Plan.from_dict(plan.to_dict()).tasks] == [t.doc for t in plan.tasks]


def test_second_load_reuses_the_stored_plan(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = count_builds(monkeypatch)
    first = load_plan(load_spec(project / "p.yml"))
    assert plan_path(load_spec(project / "p.yml")).exists()
    second = load_plan(load_spec(project / "p.yml"))
    assert first == second
    assert len(builds) == 1


def test_changed_spec_is_replanned(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = count_builds(monkeypatch)
    load_plan(load_spec(project / "p.yml"))
    (project / "p.yml").write_text(SPEC.replace("pipeline: shop", "pipeline: shop2"))
    assert load_plan(load_spec(project / "p.yml")).pipeline == "shop2"
    assert len(builds) == 2


def test_changed_manifest_is_replanned(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = count_builds(monkeypatch)
    assert len(load_plan(load_spec(project / "p.yml")).tasks) == 7  # 5, and a build per zone
    raw = json.loads((project / "manifest.json").read_text())
    raw["nodes"].pop("test.shop.t")
    (project / "manifest.json").write_text(json.dumps(raw))
    assert len(load_plan(load_spec(project / "p.yml")).tasks) == 6
    assert len(builds) == 2


def test_copied_manifest_with_new_mtime_but_same_bytes_is_still_fresh(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = count_builds(monkeypatch)
    load_plan(load_spec(project / "p.yml"))
    stat = (project / "manifest.json").stat()
    os.utime(project / "manifest.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    load_plan(load_spec(project / "p.yml"))
    assert len(builds) == 1


def test_each_environment_has_its_own_plan(project: Path) -> None:
    (project / "p.yml").write_text(SPEC + "environments:\n  prod:\n    tests: none\n")
    local = load_plan(load_spec(project / "p.yml", "local"))
    prod = load_plan(load_spec(project / "p.yml", "prod"))
    assert any(t.kind.value == "test" for t in local.tasks)
    assert not any(t.kind.value == "test" for t in prod.tasks)


@pytest.mark.parametrize(
    "corrupt",
    ["{not json", "[" * 100_000 + "]" * 100_000, '{"format": 3, "spec": 1, "plan": {"tasks": [[1]]}}'],
)
def test_corrupt_plan_file_is_rebuilt(project: Path, corrupt: str) -> None:
    sf = load_spec(project / "p.yml")
    good = load_plan(sf)
    plan_path(sf).write_text(corrupt)
    assert load_plan(sf) == good
    assert json.loads(plan_path(sf).read_text())["plan"]["pipeline"] == "shop"


def test_unwritable_plan_dir_still_plans(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = project / "blocked"
    blocker.write_text("a file where the plan folder should be")
    monkeypatch.setenv("SLUICE_PLAN_DIR", str(blocker / "plans"))
    assert load_plan(load_spec(project / "p.yml")).pipeline == "shop"


def test_the_demo_plan_round_trips_and_holds_no_path_of_this_machine() -> None:
    """Every decision (sync, stage, publish with its outlets and trigger rule, dbt batches) comes
    back from the compiled form; paths stay relative to the spec, as plans move to MWAA."""
    plan = plan_spec(load_spec(DEMO_SPEC))
    stored = json.dumps(plan.to_dict())
    assert Plan.from_dict(json.loads(stored)) == plan
    assert str(REPO) not in stored
    row = plan.to_dict()["tasks"][0]
    assert len(row) == len(dataclasses.fields(Task))


def test_a_plan_of_another_shape_is_refused_not_misread() -> None:
    doc = plan_spec(load_spec(DEMO_SPEC)).to_dict()
    doc["tasks"][0] = doc["tasks"][0][:-1]
    with pytest.raises(ValueError, match="Task: 10 values, not 11"):
        Plan.from_dict(doc)
