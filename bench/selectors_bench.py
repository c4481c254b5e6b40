"""A cold plan of a project whose zones name many selectors, against reading its manifest.

Real specs keep zones ordered by naming folders and then models one by one: hundreds of
selectors. Run with `make bench-parse`. On the 5,000-model generated project, with the folders
and 200 models named one by one, it prints the median of json.load of the manifest and of a
cold `sluice plan` (sluice's reader, then the plan), and their ratio.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from sluice.manifest.reader import parse_manifest
from sluice.plan.builder import build_plan
from sluice.spec.models import PipelineSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
import genproject

MODELS = 5000
NAMED = 100  # models named one by one in each of silver and gold
RUNS = 5


def _spec(raw: dict[str, object]) -> PipelineSpec:
    nodes = raw["nodes"].values()  # type: ignore[attr-defined]

    def models(folder: str) -> list[str]:
        return sorted(
            n["name"]
            for n in nodes
            if n["resource_type"] == "model" and f"/{folder}/" in n["original_file_path"]
        )

    return PipelineSpec.model_validate(
        {
            "pipeline": "many_selectors",
            "zones": [
                {"name": "bronze", "select": ["path:seeds", "path:models/bronze"]},
                {
                    "name": "silver",
                    "select": [
                        "path:snapshots",
                        *(f"fqn:{m}" for m in models("silver")[:NAMED]),
                        "path:models/silver",
                    ],
                },
                {"name": "gold", "select": [*models("gold")[:NAMED], "path:models/gold"]},
            ],
        }
    )


def main() -> None:
    manifest = genproject.ensure(MODELS)
    spec = _spec(json.loads(manifest.read_text()))
    reads, plans = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        with manifest.open("rb") as handle:
            json.load(handle)
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()  # what a cold plan does: sluice's reader, then the plan
        build_plan(spec, parse_manifest(manifest.read_bytes(), str(manifest)))
        plans.append(time.perf_counter() - started)
    read, plan = statistics.median(reads), statistics.median(plans)
    selectors = sum(len(z.select) for z in spec.zones)
    print("| project | selectors | json.load s | cold plan (read + plan) s | cold plan / json.load |")
    print("|---|---:|---:|---:|---:|")
    print(f"| {MODELS} models | {selectors} | {read:.2f} | {plan:.2f} | {plan / read:.2f}x |")
    print(f"\n{RUNS} runs, median.")


if __name__ == "__main__":
    main()
