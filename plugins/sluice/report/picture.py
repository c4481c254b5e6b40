"""The zone graph as an SVG: one band per zone, nodes in columns by how late they can start,
the critical path drawn over it. A large pipeline shows the critical path and the bottlenecks
only, with a count of what is left out. Every name is escaped."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from html import escape

import networkx as nx

from sluice.report.graph_facts import PipelineGraph

#: above this many nodes only the critical path and the bottlenecks are drawn
MAX_DRAWN = 120
_W, _H, _GAP_X, _GAP_Y, _TOP, _LABEL = 170, 24, 40, 10, 44, 24


def _short(name: str) -> str:
    return name if len(name) <= _LABEL else name[: _LABEL - 1] + "…"


def _columns(pg: PipelineGraph, drawn: set[str]) -> dict[str, int]:
    """Each drawn node's column: after every node it waits for, and after the zones before it."""
    level: dict[str, int] = {}
    start = 0
    for zone in pg.zones:
        members = [u for u in nx.topological_sort(pg.graph) if pg.zone_of(u) == zone and u in drawn]
        for uid in members:
            parents = [level[p] for p in pg.graph.predecessors(uid) if p in level and pg.zone_of(p) == zone]
            level[uid] = max(parents, default=start - 1) + 1
        start = max((level[u] for u in members), default=start - 1) + 1
    return level


def zone_svg(pg: PipelineGraph, path: Sequence[str], bottlenecks: Sequence[str]) -> str:
    nodes = set(pg.graph)
    left_out = 0
    if len(nodes) > MAX_DRAWN:
        nodes = set(path) | set(bottlenecks)
        left_out = len(pg.graph) - len(nodes)
    level = _columns(pg, nodes)
    rows: dict[int, int] = defaultdict(int)
    at: dict[str, tuple[int, int]] = {}
    for uid in sorted(level, key=lambda u: (level[u], pg.zone_of(u), pg.name_of(u))):
        col = level[uid]
        at[uid] = (20 + col * (_W + _GAP_X), _TOP + rows[col] * (_H + _GAP_Y))
        rows[col] += 1
    width = 40 + (max(level.values(), default=0) + 1) * (_W + _GAP_X)
    height = _TOP + max(rows.values(), default=1) * (_H + _GAP_Y) + 30
    on_path = set(itertools.pairwise(path))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="zones" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="zone graph with the critical path">'
    ]
    for zone in pg.zones:
        cols = [level[u] for u in level if pg.zone_of(u) == zone]
        if not cols:
            continue
        x0 = 10 + min(cols) * (_W + _GAP_X)
        w = (max(cols) - min(cols) + 1) * (_W + _GAP_X) - _GAP_X + 20
        out.append(f'<rect class="zone" x="{x0}" y="6" width="{w}" height="{height - 12}" rx="8"/>')
        out.append(f'<text class="zone-name" x="{x0 + 10}" y="28">{escape(zone)}</text>')
    for a, b in sorted(pg.graph.edges):
        if a in at and b in at:
            (x1, y1), (x2, y2) = at[a], at[b]
            cls = "edge critical" if (a, b) in on_path else "edge"
            out.append(
                f'<line class="{cls}" x1="{x1 + _W}" y1="{y1 + _H // 2}" x2="{x2}" y2="{y2 + _H // 2}"/>'
            )
    for a, b in on_path - set(pg.graph.edges):
        if a in at and b in at:  # the path waits at a gateway, not on an edge of the graph
            (x1, y1), (x2, y2) = at[a], at[b]
            out.append(
                f'<line class="edge critical gateway" x1="{x1 + _W}" y1="{y1 + _H // 2}" '
                f'x2="{x2}" y2="{y2 + _H // 2}"/>'
            )
    critical = set(path)
    for uid, (x, y) in sorted(at.items()):
        cls = "node critical" if uid in critical else "node"
        name = pg.name_of(uid)
        out.append(
            f'<g class="{cls}"><title>{escape(uid)} ({escape(pg.zone_of(uid))})</title>'
            f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="4"/>'
            f'<text x="{x + 6}" y="{y + 16}">{escape(_short(name))}</text></g>'
        )
    if left_out:
        out.append(
            f'<text class="note" x="20" y="{height - 8}">{left_out} other node(s) not drawn: '
            "the critical path and the bottlenecks only</text>"
        )
    out.append("</svg>")
    return "\n".join(out)
