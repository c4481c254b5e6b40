"""DAG import cost, sluice against its peers, as Airflow's DagBag pays it.

For each project size (generated with real `dbt parse`, cached) and each tool: write the tool's
DAG over the same manifest, import it in a fresh process RUNS times, and report the median and
spread of import time, tasks produced, peak RSS and serialization time. Run with `make bench`.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import genproject  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,2000,5000").split(",")]
SPEC = """\
pipeline: peer_bench
dbt:
  project_dir: {project}
zones:
  - name: bronze
    select: [path:seeds, path:models/bronze]
  - name: silver
    select: [path:models/silver, path:snapshots]
  - name: gold
    select: [path:models/gold]
"""


def sluice_dag(dags: Path, project: Path) -> Path:
    (dags / "pipelines").mkdir(parents=True)
    shutil.copy(REPO / "dags" / "sluice_dags.py", dags / "sluice_dags.py")
    (dags / "pipelines" / "bench.yml").write_text(SPEC.format(project=project))
    return dags / "sluice_dags.py"


def measure(python: Path, dag_file: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(BENCH / "measure_dagbag.py"), str(dag_file)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{dag_file}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def summarize(tool: str, size: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    imports = [r["import_s"] for r in runs]
    return {
        "tool": tool,
        "models": size,
        "import_median_s": statistics.median(imports),
        "import_spread_s": max(imports) - min(imports),
        "tasks": runs[0]["tasks"],
        "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
        "serialize_s": statistics.median(r["serialize_s"] for r in runs),
        "serialized_kib": runs[0].get("serialized_kib"),
    }


def run_tool(tool: str, size: int, project: Path, manifest: Path, home: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0",
    }
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool}-") as tmp:
        dags = Path(tmp) / "dags"
        if tool.startswith("sluice"):
            python = Path(sys.executable)
            dag_file = sluice_dag(dags, project)
            env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
            if tool == "sluice":
                env["SLUICE_PLAN_DIR"] = str(Path(tmp) / "plans")
                subprocess.run(
                    [str(python), "-m", "sluice.cli", "compile", str(dags / "pipelines")],
                    env=env,
                    check=True,
                    capture_output=True,
                )
            runs = []
            for i in range(RUNS):
                if tool != "sluice":  # cold: no compiled plan, the manifest is read and planned
                    env["SLUICE_PLAN_DIR"] = str(Path(tmp) / f"cold-{i}")
                runs.append(measure(python, dag_file, env))
        else:
            import peers

            python = peers.ensure_venv(tool)
            dag_file = peers.write_dag(tool, dags, project, manifest)
            runs = [measure(python, dag_file, env) for _ in range(RUNS)]
            tool = peers.PEERS[tool].label
    return summarize(tool, size, runs)


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| tool | models | tasks | import median s | spread s | peak RSS MiB | serialize s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['tool']} | {r['models']} | {r['tasks']} | {r['import_median_s']:.2f} "
            f"| {r['import_spread_s']:.2f} | {r['peak_rss_mib']:.0f} | {r['serialize_s']:.2f} |"
        )
    return "\n".join(out)


def main() -> None:
    tools = os.environ.get("BENCH_TOOLS", "sluice,sluice (cold),cosmos,dbt-airflow-factory").split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        for size in SIZES:
            manifest = genproject.ensure(size)
            for tool in tools:
                rows.append(run_tool(tool, size, manifest.parents[1], manifest, Path(home)))
                print(json.dumps(rows[-1]), file=sys.stderr)
    print(table(rows))
    for size in SIZES:
        ours = next((r for r in rows if r["tool"] == "sluice" and r["models"] == size), None)
        if ours is None:  # BENCH_TOOLS left out the row to compare with
            continue
        for r in rows:
            if r["models"] == size and not r["tool"].startswith("sluice"):
                print(
                    f"{size} models: sluice imports {r['import_median_s'] / ours['import_median_s']:.1f}x "
                    f"faster than {r['tool']}"
                )
    out = BENCH / ".cache" / "parse_results.json"
    out.write_text(json.dumps(rows, indent=2))
    print(f"\n{RUNS} fresh-process imports per cell; raw numbers in {out.relative_to(REPO)}.")


if __name__ == "__main__":
    main()
