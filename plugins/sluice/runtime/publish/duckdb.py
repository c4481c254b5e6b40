"""DuckDB (no schema rename): one transaction that replaces every live relation with its staged
copy and drops the staging schema; other connections see the old zone or the new, never a mix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sluice.runtime.publish.base import Engine, Publisher, PublishError, Relation, ident, staging_name

if TYPE_CHECKING:
    from sluice.runtime.publish.warehouse import Warehouse


class DuckDBPublisher(Publisher):
    engine = Engine.DUCKDB

    def publish_sql(self, wh: Warehouse, schemas: Sequence[str]) -> list[str]:
        body: list[str] = []
        for schema in schemas:
            body += _replace_live(wh, schema)
        return ["begin transaction; " + "; ".join(body) + "; commit"]


def _replace_live(wh: Warehouse, schema: str) -> list[str]:
    staging = staging_name(schema)
    staged = wh.rels(staging)
    body = [f"create schema if not exists {wh.q(schema)}"]
    names = {r.name for r in staged}
    for rel in wh.rels(schema):
        if rel.name not in names:  # a model removed from the project leaves with this publish
            kind = "view" if rel.type == "view" else "table"
            body.append(f"drop {kind} if exists {wh.q(schema, rel.name)}")
    # DuckDB binds a view's names when the view is created: tables first, then each view after
    # the views it reads
    tables = [r for r in staged if r.type != "view"]
    views = _read_first(wh, staging, [r for r in staged if r.type == "view"])
    for rel in [*tables, *views]:
        live = wh.q(schema, rel.name)
        if any(r.name == rel.name and r.type != rel.type for r in wh.rels(schema)):
            other = "table" if rel.type == "view" else "view"
            body.append(f"drop {other} if exists {live}")
        if rel.type == "view":
            body.append(_view(wh, staging, schema, rel.name))
        else:
            body.append(f"create or replace table {live} as select * from {wh.q(staging, rel.name)}")  # noqa: S608
    body.append(f"drop schema {wh.q(staging)} cascade")
    return body


def _read_first(wh: Warehouse, staging: str, views: list[Relation]) -> list[Relation]:
    """``views`` ordered so that a view comes after every other of them its SQL names."""
    sql = {v.name: wh.views.get(f"{staging.lower()}.{v.name}", "").lower() for v in views}
    reads = {
        v.name: {
            w.name
            for w in views
            if w.name != v.name
            and re.search(r'(?<![\w"])"?' + re.escape(w.name.lower()) + r'"?(?![\w"])', sql[v.name])
        }
        for v in views
    }
    ordered: list[Relation] = []
    placed: set[str] = set()
    waiting = list(views)
    while waiting:
        ready = [v for v in waiting if reads[v.name] <= placed] or waiting[:1]  # a cycle: as listed
        for v in ready:
            ordered.append(v)
            placed.add(v.name)
        waiting = [v for v in waiting if v.name not in placed]
    return ordered


def _view(wh: Warehouse, staging: str, schema: str, name: str) -> str:
    """DuckDB stores a view's SQL and binds names when queried: re-create the view in the live
    schema with its references to the staging schema pointed at the live one."""
    sql = wh.views.get(f"{staging.lower()}.{name}")
    if sql is None:
        raise PublishError(f"no SQL found for the staged view {wh.q(staging, name)}")
    # DuckDB writes a name bare when it can and quoted otherwise; names match case-insensitively
    forms = [re.escape(ident(staging))] + ([re.escape(staging)] if re.fullmatch(r"\w+", staging) else [])
    pattern = re.compile(r'(?<![\w"])(?:' + "|".join(forms) + r')(?![\w"])', re.IGNORECASE)
    live = ident(schema)
    sql = pattern.sub(lambda _: live, sql.strip().rstrip(";"))
    return re.sub(r"^create\s+view", "create or replace view", sql, count=1, flags=re.IGNORECASE)
