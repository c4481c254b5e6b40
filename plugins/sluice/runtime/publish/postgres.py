"""PostgreSQL: both renames of every schema inside one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sluice.runtime.publish.base import RETIRED_SUFFIX, Engine, Publisher, ident, staging_name

if TYPE_CHECKING:
    from sluice.runtime.publish.warehouse import Warehouse


class PostgresPublisher(Publisher):
    engine = Engine.POSTGRES
    cheap_counts = False  # count(*) scans the table

    def qualify(self, database: str, parts: Sequence[str]) -> str:
        # PostgreSQL names no other database, and refuses a schema named with its database
        return ".".join(self.name(p) for p in parts)

    def publish_sql(self, wh: Warehouse, schemas: Sequence[str]) -> list[str]:
        body: list[str] = []
        for schema in schemas:
            if wh.has(schema):
                body.append(f"alter schema {wh.q(schema)} rename to {ident(schema + RETIRED_SUFFIX)}")
            body.append(f"alter schema {wh.q(staging_name(schema))} rename to {ident(schema)}")
        out = ["begin; " + "; ".join(body) + "; commit"]
        # after the commit: readers of the old version finish first, the new one is already live
        out += [f"drop schema if exists {wh.q(s + RETIRED_SUFFIX)} cascade" for s in schemas if wh.has(s)]
        return out
