"""Airbyte syncs in the plan: one ingest task per connection, and the first zone waits for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluice.cli import main
from sluice.errors import SpecError
from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.model import TaskKind
from sluice.spec.models import PipelineSpec
from sluice.spec.reader import load_spec
from tests.conftest import line_of
from tests.unit.manifests import m, manifest, node

ZONES = [
    {"name": "bronze", "select": ["path:models/bronze"]},
    {"name": "gold", "select": ["path:models/gold"]},
]


def shop() -> dict[str, Any]:
    return manifest(
        node("model", "stg_orders", ("source.shop.raw.orders",), path="models/bronze/stg_orders.sql"),
        node("model", "stg_static", path="models/bronze/stg_static.sql"),
        node("model", "mart", (m("stg_orders"),), path="models/gold/mart.sql"),
        node("test", "source_not_null", ("source.shop.raw.orders",)),
        sources=("source.shop.raw.orders",),
    )


def test_syncs_run_first_and_hold_back_the_first_zone() -> None:
    spec = PipelineSpec.model_validate(
        {"pipeline": "p", "zones": ZONES, "ingest": {"connections": ["orders_raw", "crm_raw"]}}
    )
    plan = build_plan(spec, parse_manifest(shop()))
    tasks = plan.by_id()
    assert [t.id for t in plan.tasks[:2]] == ["ingest.orders_raw", "ingest.crm_raw"]
    assert tasks["ingest.orders_raw"].kind is TaskKind.INGEST and tasks["ingest.orders_raw"].upstream == ()
    both = ("ingest.crm_raw", "ingest.orders_raw")
    assert tasks["bronze.source_raw_orders_test"].upstream == both  # source tests check the synced data
    assert tasks["bronze.stg_static_run"].upstream == both
    assert tasks["bronze.stg_orders_run"].upstream == ("bronze.source_raw_orders_test",)
    assert tasks["gold.mart_run"].upstream == ("bronze.gateway",)


@pytest.mark.parametrize(
    ("ingest", "message"),
    [
        ({"connections": []}, "list at least one connection"),
        ({"connections": ["a", "a"]}, "listed twice"),
        ({"connections": ["a"], "poll_seconds": 0}, "greater than 0"),
        ({"connection": ["a"]}, "connection"),
    ],
)
def test_bad_ingest_sections_are_refused(ingest: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineSpec.model_validate({"pipeline": "p", "zones": ZONES, "ingest": ingest})


def test_a_zone_may_not_be_called_ingest(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(
        "pipeline: p\nzones:\n  - {name: bronze, select: [x]}\n  - name: ingest\n    select: [y]\n"
    )
    with pytest.raises(
        SpecError, match=r"p.yml:4: zones\[1\].name: 'ingest' is the group of the Airbyte sync"
    ):
        load_spec(path)


def test_validate_names_an_unknown_connection_at_its_line(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = specs / "payments_daily.yml"
    spec = path.read_text().replace("connections: [payments_raw]", "connections: [payments_raw, billing_raw]")
    path.write_text(spec)
    assert main(["validate", str(path)]) == 1
    line = line_of(spec, "billing_raw")
    out = capsys.readouterr().out
    assert f"{path}:{line}: ingest.connections[1]: no Airbyte connection 'billing_raw'" in out
    assert "(known: payments_raw)" in out


def test_validate_accepts_the_demo_connection(specs: Path) -> None:
    assert main(["validate", str(specs / "payments_daily.yml")]) == 0
