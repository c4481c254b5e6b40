"""Manifests that would have broken the plan or Airflow: odd names, cycles, missing parents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice.errors import ManifestError, PlanError
from sluice.manifest.reader import load_manifest, parse_manifest
from sluice.plan.assembler import MAX_TASK_ID
from sluice.plan.builder import build_plan
from sluice.plan.model import Plan
from sluice.spec.models import PipelineSpec
from tests.unit.manifests import m, manifest, node


def plan_of(raw: dict[str, Any], zones: list[str] | None = None) -> Plan:
    names = zones or ["bronze"]
    spec = PipelineSpec.model_validate(
        {"pipeline": "p", "zones": [{"name": z, "select": [f"path:models/{z}"]} for z in names]}
    )
    return build_plan(spec, parse_manifest(raw))


def model(name: str, *deps: str, zone: str = "bronze") -> tuple[str, dict[str, Any]]:
    return node("model", name, deps, path=f"models/{zone}/{name}.sql")


def test_names_that_sanitise_alike_get_distinct_stable_readable_ids() -> None:
    raw = manifest(model("v;x"), model("v'x"), model("v_x"), node("test", "t", (m("v;x"),)))
    ids = [t.id for t in plan_of(raw).tasks]
    assert len(ids) == len(set(ids)), ids
    runs = sorted(i for i in ids if i.startswith("bronze.v_x"))
    assert runs[0] == "bronze.v_x_run" and all(len(i) == len("bronze.v_x_run") + 9 for i in runs[1:3]), runs
    assert [t.id for t in plan_of(raw).tasks] == ids, "the same manifest gives the same ids"


def test_a_model_called_x_run_and_a_model_called_x_do_not_collide() -> None:
    ids = [t.id for t in plan_of(manifest(model("x"), model("x_run"))).tasks]
    assert len(ids) == len(set(ids)) == 4, ids  # two run tasks, the zone's build and its gateway


def test_a_model_called_like_a_zone_step_keeps_its_own_task() -> None:
    ids = [t.id for t in plan_of(manifest(model("build"), model("gateway"))).tasks]
    assert len(ids) == len(set(ids)), ids
    assert {"bronze.build", "bronze.gateway", "bronze.build_run", "bronze.gateway_run"} <= set(ids)


def test_a_source_test_task_and_a_model_test_task_do_not_collide() -> None:
    raw = manifest(
        model("source_raw_orders"),
        node("test", "t1", (m("source_raw_orders"),)),
        node("test", "t2", ("source.shop.raw.orders",), path="models/bronze/t2.sql"),
        sources=("source.shop.raw.orders",),
    )
    ids = [t.id for t in plan_of(raw).tasks]
    assert len(ids) == len(set(ids)), ids


def test_a_very_long_model_name_fits_airflows_task_id_limit() -> None:
    long = "m" * 400
    zone = "z" * 64
    plan = plan_of(manifest(model(long, zone=zone), node("test", "t", (m(long),))), zones=[zone])
    assert all(len(t.id) <= MAX_TASK_ID for t in plan.tasks)
    assert len({t.id for t in plan.tasks}) == len(plan.tasks)


def test_a_cycle_is_named_at_the_zone_that_holds_it() -> None:
    raw = manifest(model("a"), model("b", m("c"), zone="silver"), model("c", m("b"), zone="silver"))
    with pytest.raises(PlanError) as exc:
        plan_of(raw, ["bronze", "silver"])
    assert exc.value.key == "zones[1].select"
    assert "model.shop.b -> model.shop.c -> model.shop.b" in exc.value.message


def test_a_parent_missing_from_the_manifest_is_an_error_not_a_silent_root() -> None:
    with pytest.raises(PlanError) as exc:
        plan_of(manifest(model("a", m("ghost"))))
    assert exc.value.key == "dbt"
    assert "model.shop.a depends on model.shop.ghost" in exc.value.message


def test_a_manifest_path_that_is_a_directory_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not a regular file"):
        load_manifest(tmp_path)


def test_a_deeply_nested_manifest_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"nodes": {}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ManifestError, match="nested too deeply"):
        load_manifest(path)


def test_a_manifest_in_no_json_encoding_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(b'{"nodes": {"\xff\xfe": 1}}')
    with pytest.raises(ManifestError, match=r"not a JSON text|not valid JSON"):
        load_manifest(path)


def test_a_manifest_whose_fields_have_the_wrong_types_reads_leniently() -> None:
    raw = manifest(model("a"))
    raw["nodes"][m("a")].update(tags="x", fqn={"no": 1}, depends_on=[1], config=[], description=3)
    ids = [t.id for t in plan_of(json.loads(json.dumps(raw))).tasks]
    assert ids == ["bronze.build", "bronze.a_run", "bronze.gateway"]
