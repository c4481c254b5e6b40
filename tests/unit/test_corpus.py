"""The plan over real manifests (../shared/corpus and the demo project) keeps the promises the
corpus README lists, checked by code that shares nothing with the planner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.plan.model import Plan, TaskKind
from sluice.spec.loader import load_spec
from sluice.plan.from_spec import plan_spec
from sluice.spec.models import PipelineSpec
from tests.conftest import DEMO_MANIFEST, DEMO_SPEC, SHARED_CORPUS

CORPUS = sorted(SHARED_CORPUS.glob("*.json"))


def test_the_shared_corpus_is_there() -> None:
    assert len(CORPUS) >= 2, f"expected the shared manifests under {SHARED_CORPUS}"


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


def check_invariants(raw: dict[str, Any], plan: Plan, packages: set[str]) -> None:
    nodes: dict[str, Any] = raw["nodes"]
    disabled = set(raw.get("disabled") or {})
    ids = [t.id for t in plan.tasks]
    assert len(ids) == len(set(ids)), "task ids are unique"
    ancestors = _ancestors(plan)  # also proves the graph acyclic
    bit = {t.id: 1 << i for i, t in enumerate(plan.tasks)}

    def enabled(n: dict[str, Any]) -> bool:
        return (n.get("config") or {}).get("enabled", True) is not False

    def ephemeral(uid: str) -> bool:
        n = nodes.get(uid)
        return bool(n) and (n.get("config") or {}).get("materialized") == "ephemeral"

    expected_runs = {
        uid
        for uid, n in nodes.items()
        if n["resource_type"] == "model"
        and enabled(n)
        and not ephemeral(uid)
        and uid not in disabled
        and n["package_name"] in packages
    }
    runs = [t.node for t in plan.tasks if t.kind is TaskKind.RUN]
    assert len(runs) == len(set(runs)), "one run task per model"
    assert set(runs) == expected_runs

    for t in plan.tasks:
        if t.node:
            assert t.node not in disabled
            if t.node in nodes:
                assert enabled(nodes[t.node])

    build_task = {t.node: t.id for t in plan.tasks if t.kind in (TaskKind.RUN, TaskKind.SEED, TaskKind.SNAPSHOT)}

    def model_parents(uid: str, seen: set[str] | None = None) -> set[str]:
        seen = seen if seen is not None else set()
        out: set[str] = set()
        for p in (nodes.get(uid) or {}).get("depends_on", {}).get("nodes", []):
            if p in seen:
                continue
            seen.add(p)
            if p in build_task:
                out.add(p)
            elif ephemeral(p):
                out |= model_parents(p, seen)
        return out

    carried = 0
    fqn_of = {"fqn:" + ".".join(n["fqn"]): uid for uid, n in nodes.items() if n["resource_type"] == "test"}
    for task in plan.tasks:
        if task.kind is not TaskKind.TEST:
            continue
        for selector in task.select:
            carried += 1
            for parent in model_parents(fqn_of[selector]):
                assert ancestors[task.id] & bit[build_task[parent]], (
                    f"{task.id} must run after {build_task[parent]}"
                )
    assert carried, "tests were planned"

    zones = list(plan.zones)
    for task in plan.tasks:
        zi = zones.index(task.zone)
        for earlier in zones[:zi]:
            assert ancestors[task.id] & bit[f"{earlier}.gateway"], f"{task.id} before {earlier}.gateway"


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
    raw = json.loads((SHARED_CORPUS / "tuva.json").read_text())
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
