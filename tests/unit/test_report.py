"""`sluice report`'s analysis on manifests written here and on the corpus: dead models,
centrality, the critical path for given durations, timings from given run records, the page."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sluice.cli import main
from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.model import Plan
from sluice.report.facts import report_facts
from sluice.report.graph_facts import centrality, critical_path, dead_models, pipeline_graph
from sluice.report.history import History, NodeResult, Run, TaskTry
from sluice.report.page import report_html
from sluice.report.picture import MAX_DRAWN, zone_svg
from sluice.report.timings import flaky_tests, zone_runs
from sluice.spec.models import PipelineSpec
from tests.conftest import CORPUS_DIR, DEMO_MANIFEST, DEMO_SPEC
from tests.unit.manifests import m, manifest, node

ZONES = [
    {"name": "bronze", "select": ["path:seeds", "path:models/bronze"]},
    {"name": "silver", "select": ["path:models/silver"]},
]


def shop() -> dict[str, Any]:
    """raw → a (bronze) → b, c, eph (ephemeral); b → d; c → e; f read by a model the pipeline
    leaves out; g tagged public; an exposure reads d through nothing and eph."""
    raw = manifest(
        node("seed", "raw"),
        node("model", "a", ("seed.shop.raw",), path="models/bronze/a.sql"),
        node("model", "b", (m("a"),), path="models/silver/b.sql"),
        node("model", "c", (m("a"),), path="models/silver/c.sql"),
        node("model", "d", (m("b"),), path="models/silver/d.sql"),
        node("model", "e", (m("c"),), path="models/silver/e.sql"),
        node("model", "eph", (m("e"),), path="models/silver/eph.sql", materialized="ephemeral"),
        node("model", "f", (m("a"),), path="models/silver/f.sql"),
        node("model", "g", (m("a"),), path="models/silver/g.sql", tags=("public",)),
        node("model", "outside", (m("f"),), path="models/other/outside.sql"),
        node("test", "unique_a", (m("a"),)),
        node("test", "unique_d", (m("d"),)),
    )
    raw["exposures"] = {
        "exposure.shop.dash": {
            "name": "dash",
            "resource_type": "exposure",
            "depends_on": {"nodes": [m("eph")]},
        }
    }
    return raw


def shop_plan(raw: dict[str, Any]) -> Plan:
    spec = PipelineSpec.model_validate(
        {"pipeline": "shop", "zones": ZONES, "dbt": {"exclude": ["path:models/other"]}}
    )
    return build_plan(spec, parse_manifest(raw))


def test_dead_models_have_no_path_to_an_exposure_or_an_outside_reader() -> None:
    raw = shop()
    graph = pipeline_graph(shop_plan(raw), parse_manifest(raw))
    # e reaches the exposure through the ephemeral model; f is read by a model left out of the pipeline
    assert graph.exposed == {m("e")} and graph.outside == {m("f")}
    assert dead_models(graph) == [m("b"), m("d"), m("g")]
    consumed = pipeline_graph(shop_plan(raw), parse_manifest(raw), consumed=["tag:public", "d"])
    assert dead_models(consumed) == []
    assert graph.untested == {m(x) for x in "bcefg"}


def _corpus(name: str) -> tuple[dict[str, Any], Plan]:
    raw = json.loads((CORPUS_DIR / f"{name}.json").read_text())
    packages = {n["package_name"] for n in raw["nodes"].values()}
    spec = PipelineSpec.model_validate(
        {
            "pipeline": name,
            "dbt": {"select": [f"package:{p}" for p in sorted(packages)]},
            "zones": [
                {"name": "raw", "select": ["resource_type:seed"]},
                {"name": "models", "select": ["resource_type:model"]},
            ],
        }
    )
    return raw, build_plan(spec, parse_manifest(raw))


def _children(raw: dict[str, Any]) -> dict[str, set[str]]:
    """Independent of the report: children by depends_on, ephemeral models looked through."""
    nodes = raw["nodes"]
    kids: dict[str, set[str]] = defaultdict(set)
    for uid, n in nodes.items():
        for parent in n.get("depends_on", {}).get("nodes", []):
            kids[parent].add(uid)
    return kids


def _reach(kids: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for kid in kids[todo.pop()]:
            if kid not in seen:
                seen.add(kid)
                todo.append(kid)
    return seen


def test_jaffle_shop_every_model_is_dead_until_an_exposure_reads_one() -> None:
    raw, plan = _corpus("jaffle_shop_duckdb")
    models = sorted(u for u, n in raw["nodes"].items() if n["resource_type"] == "model")
    assert dead_models(pipeline_graph(plan, parse_manifest(raw))) == models
    raw["exposures"] = {"exposure.jaffle_shop.bi": {"depends_on": {"nodes": ["model.jaffle_shop.customers"]}}}
    kids = _children(raw)
    expected = [
        u
        for u in models
        if u != "model.jaffle_shop.customers" and "model.jaffle_shop.customers" not in _reach(kids, u)
    ]
    assert expected == ["model.jaffle_shop.orders"]
    assert dead_models(pipeline_graph(plan, parse_manifest(raw))) == expected


def test_descendant_counts_over_tuva_match_a_walk_of_the_manifest() -> None:
    raw, plan = _corpus("tuva")
    graph = pipeline_graph(plan, parse_manifest(raw))
    ranked = centrality(graph)
    kids = _children(raw)
    built = set(graph.graph)
    for c in ranked[:5]:
        assert c.descendants == len(_reach(kids, c.node) & built), c.node
    assert [c.descendants for c in ranked] == sorted((c.descendants for c in ranked), reverse=True)


def test_betweenness_counts_the_shortest_paths_through_a_node() -> None:
    raw = manifest(
        node("seed", "s"),
        node("model", "a", ("seed.shop.s",), path="models/bronze/a.sql"),
        node("model", "b", (m("a"),), path="models/silver/b.sql"),
    )
    graph = pipeline_graph(shop_plan(raw), parse_manifest(raw))
    by_node = {c.node: c for c in centrality(graph)}
    # of the ordered pairs of the other two nodes, (s, b) is joined through a: 1 of 2
    assert by_node[m("a")].betweenness == pytest.approx(0.5)
    assert by_node["seed.shop.s"].descendants == 2 and by_node[m("b")].descendants == 0


def test_critical_path_waits_at_each_zone_gateway() -> None:
    raw = manifest(
        node("seed", "unread"),
        node("model", "x", path="models/bronze/x.sql"),
        node("model", "y", path="models/bronze/y.sql"),
        node("model", "z", (m("y"),), path="models/silver/z.sql"),
        node("model", "w", path="models/silver/w.sql"),
    )
    graph = pipeline_graph(shop_plan(raw), parse_manifest(raw))
    seconds = {m("x"): 5.0, m("y"): 1.0, m("z"): 2.0, m("w"): 1.5}
    # z reads y, but silver starts only when all of bronze (x: 5 s) is done
    assert critical_path(graph, seconds) == ([m("x"), m("z")], 7.0)
    seconds[m("w")] = 4.0
    assert critical_path(graph, seconds) == ([m("x"), m("w")], 9.0)


T0 = datetime(2026, 11, 2, tzinfo=UTC)


def _try(task: str, state: str, start: float, seconds: float, number: int = 1) -> TaskTry:
    return TaskTry(
        task, number, state, T0 + timedelta(seconds=start), T0 + timedelta(seconds=start + seconds)
    )


def test_zone_timings_and_flaky_tests_from_run_records() -> None:
    raw = shop()
    plan = shop_plan(raw)
    first = Run(
        "r1",
        "failed",
        T0,
        T0 + timedelta(seconds=30),
        (
            _try("bronze.raw_seed", "success", 0, 2),
            _try("bronze.a_run", "success", 2, 3),
            _try("bronze.a_test", "failed", 5, 1),
            _try("bronze.a_test", "failed", 7, 1, number=2),
        ),
    )
    second = Run(
        "r2",
        "success",
        T0,
        T0 + timedelta(seconds=40),
        (
            _try("bronze.raw_seed", "success", 0, 9),
            _try("bronze.a_run", "success", 9, 9),
            _try("bronze.a_test", "success", 18, 4),
        ),
        # a zone build's own seconds for a node win over its task's duration
        {"fqn:shop.bronze.a": NodeResult("success", 1.25), "fqn:shop.unique_a": NodeResult("pass", 0.5)},
    )
    history = History("shop", (first, second), "sqlite://")
    runs = zone_runs(plan, history, "bronze")
    assert [(r.build_seconds, r.test_seconds, r.wall_seconds) for r in runs] == [
        (5.0, 1.0, 8.0),
        (10.25, 0.5, 22.0),
    ]
    (flaky,) = flaky_tests(plan, history, "bronze")
    assert (flaky.task, flaky.failed, flaky.passed) == ("bronze.a_test", 2, 1)
    facts = report_facts(plan, parse_manifest(raw), history)
    bronze = facts["zones"][0]
    assert [s["name"] for s in bronze["slowest_models"]] == ["raw", "a"]  # 5.5 s and 2.125 s on average
    assert facts["critical_path"]["basis"] == "mean dbt seconds over the runs"


def test_without_history_the_report_says_so_and_still_lists_dead_models_and_centrality() -> None:
    raw, plan = _corpus("tuva")
    facts = report_facts(plan, parse_manifest(raw), None)
    assert facts["history"]["runs"] == 0 and "no run history" in facts["history"]["note"]
    assert facts["dead_models"] and facts["bottlenecks"]
    assert all(z["runs"] == [] and z["slowest_models"] == [] for z in facts["zones"])
    graph = pipeline_graph(plan, parse_manifest(raw))
    path = [n["node"] for n in facts["critical_path"]["nodes"]]
    svg = zone_svg(graph, path, [b["node"] for b in facts["bottlenecks"]])
    drawn = svg.count('<g class="node')
    assert len(graph.graph) > MAX_DRAWN and drawn == len(
        set(path) | {b["node"] for b in facts["bottlenecks"]}
    )
    assert f"{len(graph.graph) - drawn} other node(s) not drawn" in svg
    page = report_html(facts, svg)
    assert "no run history" in page and "<svg" in page


def test_the_page_escapes_every_name() -> None:
    raw = manifest(
        node("seed", "s0"),
        node("model", 'a<b>&"', path="models/bronze/a.sql"),
        node("model", "s", path="models/silver/s.sql"),
    )
    plan = shop_plan(raw)
    graph = pipeline_graph(plan, parse_manifest(raw))
    facts = report_facts(plan, parse_manifest(raw), None)
    page = report_html(facts, zone_svg(graph, [], []))
    assert "a<b>" not in page and "a&lt;b&gt;&amp;&quot;" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched


def test_report_json_on_the_demo_without_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    specs = str(DEMO_SPEC.parent)
    assert main(["report", "payments_daily", "--json", "--runs", "0", "--specs", specs]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["pipeline"] == "payments_daily" and facts["zones_order"] == ["bronze", "silver", "gold"]
    assert facts["dead_models"] == [] and facts["exposed"]
    assert main(["report", "payments_daily", "--runs", "0", "--specs", specs, "--out", str(tmp_path)]) == 0
    page = (tmp_path / "payments_daily.report.html").read_text()
    assert "<svg" in page and "customer_balances" in page
    assert json.loads((tmp_path / "payments_daily.report.json").read_text()) == facts


def test_a_new_dead_model_fails_against_the_baseline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    specs = str(DEMO_SPEC.parent)
    assert main(["report", "payments_daily", "--json", "--runs", "0", "--specs", specs]) == 0
    baseline = tmp_path / "baseline.json"
    baseline.write_text(capsys.readouterr().out)
    # the merge request's manifest: the dashboard stops reading fraud_flags
    raw = json.loads(DEMO_MANIFEST.read_text())
    (exposure,) = raw["exposures"].values()
    exposure["depends_on"]["nodes"].remove("model.payments.fraud_flags")
    changed = tmp_path / "manifest.json"
    changed.write_text(json.dumps(raw))
    argv = ["report", "payments_daily", "--json", "--runs", "0", "--specs", specs, "--manifest", str(changed)]
    assert main([*argv, "--fail-on-new-dead", str(baseline)]) == 1
    err = capsys.readouterr().err
    assert "new dead model model.payments.fraud_flags (gold)" in err
    assert main([*argv, "--consumed", "fraud_flags", "--fail-on-new-dead", str(baseline)]) == 0
    baseline.write_text("not json")
    assert main([*argv, "--fail-on-new-dead", str(baseline)]) == 1
    assert "not a `sluice report --json` output" in capsys.readouterr().err
