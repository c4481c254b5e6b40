"""How long sluice takes to turn a manifest into a plan and a plan into an Airflow DAG.

Run with `make bench`. Prints a Markdown table: per manifest, the median and spread of
manifest read, plan build and DAG render over several runs, the task count and peak RSS.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from sluice.airflow.render import render_dag
from sluice.manifest.reader import Manifest, parse_manifest
from sluice.plan.builder import build_plan
from sluice.spec.models import PipelineSpec
from sluice.spec.paths import DbtPaths
from sluice.spec.reader import SpecFile

REPO = Path(__file__).resolve().parents[1]
RUNS = 7


def timed(fn: Callable[[], Any]) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def read_manifest(path: Path) -> Manifest:
    """What load_manifest does with a manifest it has not read before."""
    return parse_manifest(path.read_bytes(), str(path))


def fmt(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.1f} ± {statistics.pstdev(times) * 1000:.1f}"


def main() -> None:
    manifests = sorted((REPO / "tests" / "data" / "corpus").glob("*.json"))
    manifests.append(REPO / "dbt" / "target" / "manifest.json")
    print("| manifest | nodes | tasks | read ms | plan ms | render ms | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for path in manifests:
        raw = json.loads(path.read_text())
        packages = sorted({n["package_name"] for n in raw["nodes"].values()})
        kinds = {n["resource_type"] for n in raw["nodes"].values()}
        later = ["resource_type:model"] + (["resource_type:snapshot"] if "snapshot" in kinds else [])
        spec = PipelineSpec.model_validate(
            {
                "pipeline": "bench",
                "dbt": {"select": [f"package:{p}" for p in packages]},
                "zones": [
                    {"name": "raw", "select": ["resource_type:seed"]},
                    {"name": "models", "select": later},
                ],
            }
        )
        read, manifest = timed(partial(read_manifest, path))
        plan_t, plan = timed(partial(build_plan, spec, manifest))
        sf = SpecFile(REPO / "dags" / "pipelines" / "bench.yml", spec, "local", {})
        paths = DbtPaths(REPO / "dbt", REPO / "dbt", path)
        render, _ = timed(partial(render_dag, sf, plan, paths))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        label = path.name if path.parent.name == "corpus" else "demo (dbt/)"
        print(
            f"| {label} | {len(raw['nodes'])} | {len(plan.tasks)} | {fmt(read)} | {fmt(plan_t)} "
            f"| {fmt(render)} | {rss:.0f} |"
        )
    print(f"\n{RUNS} runs each, median ± standard deviation; Python {sys.version.split()[0]}.")


if __name__ == "__main__":
    main()
