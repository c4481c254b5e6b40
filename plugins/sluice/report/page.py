"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.
Every name from the manifest or the metadata database is escaped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666}.figure{overflow-x:auto;border:1px solid #ddd;padding:6px}
svg.zones .zone{fill:#f4f7fb;stroke:#c9d4e3}svg.zones .zone-name{font-weight:bold;fill:#345}
svg.zones .node rect{fill:#fff;stroke:#889}svg.zones .node text{font-size:11px;fill:#222}
svg.zones .node.critical rect{stroke:#c0392b;stroke-width:2.5}
svg.zones .edge{stroke:#bbb;stroke-width:1}svg.zones .edge.critical{stroke:#c0392b;stroke-width:2.5}
svg.zones .edge.gateway{stroke-dasharray:5 4}svg.zones text.note{font-size:12px;fill:#666}
"""


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str) -> str:
    body = [
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>'
            if isinstance(cell, int | float)
            else f"<td>{escape(str(cell))}</td>"
            for cell in ("-" if c is None else c for c in row)
        )
        + "</tr>"
        for row in rows
    ]
    if not body:
        return f'<p class="note">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _zone(z: dict[str, Any]) -> str:
    coverage = "-" if z["coverage"] is None else f"{z['coverage']:.0%}"
    parts = [
        f"<h3>{escape(z['zone'])}</h3>",
        f"<p>{z['models']} model(s); test coverage {escape(coverage)}</p>",
        "<h4>Build and test time by run</h4>",
        _table(
            ("run", "started", "state", "build s", "test s", "wall s"),
            (
                (
                    r["run_id"],
                    r["start"],
                    r["state"],
                    r["build_seconds"],
                    r["test_seconds"],
                    r["wall_seconds"],
                )
                for r in z["runs"]
            ),
            "no runs",
        ),
        "<h4>Slowest models</h4>",
        _table(
            ("model", "mean s", "max s"),
            ((m["name"], m["mean_seconds"], m["max_seconds"]) for m in z["slowest_models"]),
            "no timings",
        ),
        "<h4>Flakiest tests</h4>",
        _table(
            ("test task", "failed tries", "passed tries", "failing tests"),
            (
                (f["task"], f["failed"], f["passed"], ", ".join(f["failing_tests"]))
                for f in z["flakiest_tests"]
            ),
            "no test both failed and passed over these runs",
        ),
        "<h4>Models without a test</h4>",
        _table(("model",), ((m["name"],) for m in z["untested"]), "every model has a test"),
    ]
    return "\n".join(parts)


def report_html(facts: dict[str, Any], svg: str) -> str:
    name = escape(facts["pipeline"])
    path = facts["critical_path"]
    sections = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>sluice report: {name}</title><style>{_CSS}</style></head><body>",
        f"<h1>Pipeline {name}</h1>",
        f'<p class="note">{escape(facts["history"]["note"])}. {facts["models"]} model(s) in zones '
        f"{escape(' → '.join(facts['zones_order']))}.</p>",
        "<h2>Zone graph and critical path</h2>",
        f"<p>Critical path ({escape(path['basis'])}): {path['total']} {path['unit']}: "
        + escape(" → ".join(n["name"] for n in path["nodes"]))
        + "</p>",
        f'<div class="figure">{svg}</div>',
        "<h2>Dead models</h2>",
        '<p class="note">No path to an exposure or to a reader outside the pipeline.</p>',
        _table(
            ("model", "zone", "seconds per run"),
            ((d["name"], d["zone"], d["seconds_per_run"]) for d in facts["dead_models"]),
            "no dead models",
        ),
        "<h2>Bottlenecks</h2>",
        '<p class="note">A delay here delays every descendant.</p>',
        _table(
            ("node", "zone", "descendants", "betweenness"),
            ((b["name"], b["zone"], b["descendants"], b["betweenness"]) for b in facts["bottlenecks"]),
            "no nodes",
        ),
        "<h2>Zones</h2>",
        *(_zone(z) for z in facts["zones"]),
        "</body></html>",
    ]
    return "\n".join(sections)
