"""The report's facts as one JSON-ready dict: what `sluice report --json` prints and the HTML
page shows. No Airflow import: the run history comes in as plain records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from statistics import mean
from typing import Any

from sluice.manifest.reader import Manifest
from sluice.plan.model import Plan
from sluice.report.graph_facts import centrality, critical_path, dead_models, pipeline_graph
from sluice.report.history import History
from sluice.report.timings import flaky_tests, mean_seconds, node_seconds, zone_runs

#: the bottlenecks and slowest models listed
TOP = 10


def report_facts(
    plan: Plan, manifest: Manifest, history: History | None, consumed: Iterable[str] = ()
) -> dict[str, Any]:
    """Dead models, bottlenecks, the critical path and, with a run history, per-zone timings."""
    pg = pipeline_graph(plan, manifest, consumed)
    timed = history is not None and bool(history.runs)
    seconds = mean_seconds(plan, history) if history is not None and timed else {}
    # with no durations the longest chain by node count stands in (each node one unit)
    path, total = critical_path(pg, seconds if timed else dict.fromkeys(pg.graph, 1.0))

    def named(uid: str) -> dict[str, Any]:
        return {"node": uid, "name": pg.name_of(uid), "zone": pg.zone_of(uid)}

    runs_note = (
        f"{len(history.runs)} run(s) of {history.dag_id} from {history.where}"
        if history is not None and timed
        else "no run history: timings, flaky tests and the timed critical path need runs of the DAG"
    )
    zones = []
    per_node = node_seconds(plan, history) if history is not None and timed else {}
    for zone in plan.zones:
        models = [u for u in pg.models() if pg.zone_of(u) == zone]
        slowest = sorted(
            (u for u in pg.graph if pg.zone_of(u) == zone and u in per_node), key=lambda u: -seconds[u]
        )[:TOP]
        zones.append(
            {
                "zone": zone,
                "models": len(models),
                "untested": [named(u) for u in models if u in pg.untested],
                "coverage": round(1 - sum(u in pg.untested for u in models) / len(models), 3)
                if models
                else None,
                "runs": [asdict(r) for r in zone_runs(plan, history, zone)] if history and timed else [],
                "slowest_models": [
                    {
                        **named(u),
                        "mean_seconds": round(seconds[u], 3),
                        "max_seconds": round(max(per_node[u]), 3),
                    }
                    for u in slowest
                ],
                "flakiest_tests": [asdict(f) for f in flaky_tests(plan, history, zone)] if history else [],
            }
        )
    return {
        "pipeline": plan.pipeline,
        "zones_order": list(plan.zones),
        "history": {
            "runs": len(history.runs) if history else 0,
            "run_ids": [r.run_id for r in history.runs] if history else [],
            "note": runs_note,
        },
        "models": len(pg.models()),
        "exposed": sorted(pg.exposed),
        "read_outside": sorted(pg.outside),
        "dead_models": [
            {**named(u), "seconds_per_run": round(seconds[u], 3) if u in seconds else None}
            for u in dead_models(pg)
        ],
        "bottlenecks": [
            {**named(c.node), "descendants": c.descendants, "betweenness": round(c.betweenness, 5)}
            for c in centrality(pg)[:TOP]
        ],
        "critical_path": {
            "basis": "mean dbt seconds over the runs" if timed else "node count (no run history)",
            "nodes": [
                {**named(u), "mean_seconds": round(seconds[u], 3) if u in seconds else None} for u in path
            ],
            "total": round(total, 3),
            "unit": "seconds" if timed else "nodes",
        },
        "zones": zones,
        "mean_run_seconds": _mean_run(history),
    }


def _mean_run(history: History | None) -> float | None:
    walls = [
        (r.end - r.start).total_seconds() for r in (history.runs if history else ()) if r.start and r.end
    ]
    return round(mean(walls), 3) if walls else None
