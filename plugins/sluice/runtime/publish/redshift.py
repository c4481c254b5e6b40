"""Redshift: both renames of every schema inside one transaction, as on PostgreSQL.

Redshift runs ``ALTER SCHEMA ... RENAME TO`` inside a transaction block (it is not among the
commands Redshift refuses there: CREATE/DROP DATABASE, VACUUM, ALTER TABLE APPEND, external
tables, ...), so readers see the old zone or the new one, never a mix. What differs from
PostgreSQL:

- the stage copy of a kept table is ``CREATE TABLE ... (LIKE ...)`` then ``INSERT``: a
  ``CREATE TABLE AS`` would drop the table's distribution and sort keys and column encodings,
  which an incremental model keeps building on;
- names are quoted exactly as dbt-redshift quotes them (it quotes database, schema and
  identifier by default), so they fold, or not, as the cluster's
  ``enable_case_sensitive_identifier`` says, exactly as dbt's own SQL does; a name longer than
  the 127 bytes Redshift takes (the staging and retired names add a suffix) is refused before
  any statement runs;
- ``CURRENT_TIMESTAMP`` is a leader-node-only function Redshift refuses on user tables, so the
  zone lease reads the clock with ``GETDATE()``.

A view outside the zone that reads the zone binds to the old tables (as on PostgreSQL) and is
dropped with them, unless it is late-binding (``bind: false`` in dbt-redshift); a late-binding
view *inside* the zone names ``<schema>__staging``, which the rename takes away, so the publish
refuses one (``sluice_describe`` lists them from ``pg_views``) before anything is renamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sluice.runtime.publish.base import RETIRED_SUFFIX, Engine, Publisher, PublishError, ident, staging_name

if TYPE_CHECKING:
    from sluice.runtime.publish.warehouse import Warehouse

#: Redshift's longest identifier, in bytes of UTF-8
MAX_NAME_BYTES = 127


class RedshiftPublisher(Publisher):
    engine = Engine.REDSHIFT
    cheap_counts = False  # count(*) scans the table
    clock = "getdate()"

    def name(self, part: str) -> str:
        if len(part.encode()) > MAX_NAME_BYTES:
            raise PublishError(
                f"Redshift name {part!r} is longer than {MAX_NAME_BYTES} bytes (with sluice's "
                f"{RETIRED_SUFFIX!r} or '__staging' suffix), the most Redshift takes; "
                "shorten the schema name in the dbt project"
            )
        return ident(part)

    def qualify(self, database: str, parts: Sequence[str]) -> str:
        # ALTER SCHEMA takes no database, and dbt's connection is to that database already
        return ".".join(self.name(p) for p in parts)

    def stage_sql(self, wh: Warehouse, schema: str, kept: Sequence[str]) -> list[str]:
        staging = staging_name(schema)
        live_names = {r.name.lower() for r in wh.rels(schema)}
        out = [f"drop schema if exists {wh.q(staging)} cascade", f"create schema {wh.q(staging)}"]
        for name in kept:
            if name.lower() in live_names:
                target, source = wh.q(staging, name), wh.q(schema, name)
                out.append(f"create table {target} (like {source})")
                # identifiers are quoted by q(); the query has no values in it
                out.append(f"insert into {target} select * from {source}")  # noqa: S608
        return out

    def publish_sql(self, wh: Warehouse, schemas: Sequence[str]) -> list[str]:
        staged = tuple(staging_name(s).lower() + "." for s in schemas)
        late = sorted(view for view in wh.views if view.startswith(staged))
        if late:
            raise PublishError(
                f"late-binding view(s) {', '.join(late)} name their staging schema, which the publish "
                "renames away, so they would fail once live; keep dbt-redshift's default bind: true for "
                "views in an atomic zone"
            )
        body: list[str] = []
        for schema in schemas:
            retired = self.name(schema + RETIRED_SUFFIX)
            if wh.has(schema):
                body.append(f"alter schema {wh.q(schema)} rename to {retired}")
            body.append(f"alter schema {wh.q(staging_name(schema))} rename to {self.name(schema)}")
        out = ["begin; " + "; ".join(body) + "; commit"]
        # after the commit: readers of the old version finish first, the new one is already live
        out += [f"drop schema if exists {wh.q(s + RETIRED_SUFFIX)} cascade" for s in schemas if wh.has(s)]
        return out
