"""The plan over real manifests (tests/data/corpus and the demo project) keeps the promises the
corpus README lists, checked by code that shares nothing with the planner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.from_spec import plan_spec
from sluice.plan.model import Plan, TaskKind
from sluice.spec.models import PipelineSpec
from sluice.spec.reader import load_spec
from tests.conftest import CORPUS_DIR, DEMO_MANIFEST, DEMO_SPEC

CORPUS = sorted(CORPUS_DIR.glob("*.json"))


def _ancestors(plan: Plan) -> dict[str, int]:
    """Task id → bitset of every task it transitively waits for."""
    bit = {t.id: 1 << i for i, t in enumerate(plan.tasks)}
    by_id = plan.by_id()
    order: list[str] = []
    state: dict[str, int] = {}
    for start in by_id:  # iterative DFS post-order; fails on a cycle
        if state.get(start):
            continue
        state[start] = 1
        stack = [(start, iter(by_id[start].upstream))]
        while stack:
            tid, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[tid] = 2
                order.append(tid)
                continue
            assert state.get(nxt) != 1, f"cycle through {nxt}"
            if not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(by_id[nxt].upstream)))
    seen: dict[str, int] = {}
    for tid in order:
        acc = 0
        for up in by_id[tid].upstream:
            acc |= bit[up] | seen[up]
        seen[tid] = acc
    return seen


def _enabled(n: dict[str, Any]) -> bool:
    return (n.get("config") or {}).get("enabled", True) is not False


def _ephemeral(nodes: dict[str, Any], uid: str) -> bool:
    n = nodes.get(uid)
    return bool(n) and (n.get("config") or {}).get("materialized") == "ephemeral"


def _check_run_tasks(raw: dict[str, Any], plan: Plan, packages: set[str]) -> None:
    nodes: dict[str, Any] = raw["nodes"]
    disabled = set(raw.get("disabled") or {})
    expected = {
        uid
        for uid, n in nodes.items()
        if n["resource_type"] == "model"
        and _enabled(n)
        and not _ephemeral(nodes, uid)
        and uid not in disabled
        and n["package_name"] in packages
    }
    runs = [t.node for t in plan.tasks if t.kind is TaskKind.RUN]
    assert len(runs) == len(set(runs)), "one run task per model"
    assert set(runs) == expected
    for t in plan.tasks:
        assert t.node not in disabled
        assert t.node not in nodes or _enabled(nodes[t.node])


def _check_tests_after_parents(
    raw: dict[str, Any], plan: Plan, ancestors: dict[str, int], bit: dict[str, int]
) -> None:
    nodes: dict[str, Any] = raw["nodes"]
    built = {t.node: t.id for t in plan.tasks if t.kind in (TaskKind.RUN, TaskKind.SEED, TaskKind.SNAPSHOT)}

    def model_parents(uid: str, seen: set[str]) -> set[str]:
        out: set[str] = set()
        for p in (nodes.get(uid) or {}).get("depends_on", {}).get("nodes", []):
            if p not in seen:
                seen.add(p)
                if p in built:
                    out.add(p)
                elif _ephemeral(nodes, p):
                    out |= model_parents(p, seen)
        return out

    test_by_selector = {
        "fqn:" + ".".join(n["fqn"]): uid for uid, n in nodes.items() if n["resource_type"] == "test"
    }
    carried = [(task, s) for task in plan.tasks if task.kind is TaskKind.TEST for s in task.select]
    assert carried, "tests were planned"
    for task, selector in carried:
        for parent in model_parents(test_by_selector[selector], set()):
            assert ancestors[task.id] & bit[built[parent]], f"{task.id} must run after {built[parent]}"


def check_invariants(raw: dict[str, Any], plan: Plan, packages: set[str]) -> None:
    ids = [t.id for t in plan.tasks]
    assert len(ids) == len(set(ids)), "task ids are unique"
    ancestors = _ancestors(plan)  # also proves the graph acyclic
    bit = {t.id: 1 << i for i, t in enumerate(plan.tasks)}
    _check_run_tasks(raw, plan, packages)
    _check_tests_after_parents(raw, plan, ancestors, bit)
    zones = list(plan.zones)
    gate = {t.zone: t.id for t in plan.tasks if t.kind in (TaskKind.GATEWAY, TaskKind.PUBLISH)}
    build = {t.zone: t.id for t in plan.tasks if t.kind is TaskKind.BUILD}
    for task in plan.tasks:
        if task.kind is TaskKind.ARCHIVE:  # an event stream's archival, once every zone has passed
            assert all(ancestors[task.id] & bit[gate[zone]] for zone in zones), task.id
            continue
        if task.zone not in zones:  # the ingest tasks, which come before every zone
            assert task.kind is TaskKind.INGEST and not task.upstream
            continue
        for earlier in zones[: zones.index(task.zone)]:
            done = bit[gate[earlier]]
            if task.kind in (TaskKind.BUILD, TaskKind.STAGE, TaskKind.FRESHNESS) and earlier in build:
                # a zone's build path starts once the earlier zone is built and tested
                done |= bit[build[earlier]]
            assert ancestors[task.id] & done, f"{task.id} before {gate[earlier]}"


def _layered_spec(raw: dict[str, Any]) -> tuple[PipelineSpec, set[str]]:
    packages = {n["package_name"] for n in raw["nodes"].values()}
    spec = PipelineSpec.model_validate(
        {
            "pipeline": "corpus",
            "dbt": {"select": [f"package:{p}" for p in sorted(packages)]},
            "zones": [
                {"name": "raw", "select": ["resource_type:seed"]},
                {"name": "models", "select": ["resource_type:model"]},
            ],
        }
    )
    return spec, packages


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_plan_over_corpus_manifest_keeps_the_invariants(path: Path) -> None:
    raw = json.loads(path.read_text())
    spec, packages = _layered_spec(raw)
    check_invariants(raw, build_plan(spec, parse_manifest(raw)), packages)


def test_root_package_only_by_default_over_tuva() -> None:
    raw = json.loads((CORPUS_DIR / "tuva.json").read_text())
    spec = PipelineSpec.model_validate(
        {
            "pipeline": "tuva",
            "unassigned": "warn",
            "zones": [{"name": "all", "select": ["resource_type:model", "resource_type:seed"]}],
        }
    )
    plan = build_plan(spec, parse_manifest(raw))
    assert {raw["nodes"][t.node]["package_name"] for t in plan.tasks if t.kind is TaskKind.RUN} == {
        "integration_tests"
    }
    check_invariants(raw, plan, {"integration_tests"})


def test_demo_pipeline_over_demo_manifest_keeps_the_invariants() -> None:
    raw = json.loads(DEMO_MANIFEST.read_text())
    plan = plan_spec(load_spec(DEMO_SPEC))
    check_invariants(raw, plan, {"payments"})
    assert plan.zones == ("bronze", "silver", "gold")
