"""Reading a manifest: Python's json.load against sluice's reader, which decodes only the fields
sluice needs, by type (sluice.manifest.fields), and builds its records from them.

Run with `make bench-parse`. Per manifest (the generated 5,000-model project, the corpus of real
manifests, the demo), the median of RUNS reads of each, from the file, in this one process.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from sluice.manifest.reader import Manifest, parse_manifest

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
import genproject  # noqa: E402

RUNS = 7
MODELS = 5000


def median_s(read: Callable[[], Any]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def json_load(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.load(handle)


def sluice_read(path: Path) -> Manifest:
    """What load_manifest does with a manifest it has not read before."""
    return parse_manifest(path.read_bytes(), str(path))


def main() -> None:
    manifests = [
        (f"{MODELS} models (generated)", genproject.ensure(MODELS)),
        *((p.name, p) for p in sorted((REPO / "tests" / "data" / "corpus").glob("*.json"))),
        ("demo (dbt/)", REPO / "dbt" / "target" / "manifest.json"),
    ]
    print("| manifest | MB | nodes | json.load ms | sluice's reader ms | json.load / reader |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, path in manifests:
        plain = median_s(partial(json_load, path))
        ours = median_s(partial(sluice_read, path))
        cells = [f"{path.stat().st_size / 1e6:.1f}", str(len(sluice_read(path).nodes))]
        cells += [f"{plain * 1e3:.1f}", f"{ours * 1e3:.1f}", f"{plain / ours:.1f}x"]
        print(f"| {label} | {' | '.join(cells)} |")
    print(f"\n{RUNS} reads each, median; sluice's reader includes building its records (Manifest).")


if __name__ == "__main__":
    main()
