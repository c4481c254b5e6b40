"""Snowflake: ``ALTER SCHEMA ... SWAP WITH ...`` per schema, then the old versions are dropped.

dbt creates Snowflake schemas unquoted, which Snowflake stores upper-cased: a schema or database
name is quoted upper-cased, and one that could not have been written unquoted (anything but
letters, digits, ``_`` and ``$``, not starting with a digit) is refused with an error rather than
guessed at. Names Snowflake reports itself (relations, grantee roles) are stored names, quoted
exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sluice.runtime.publish.base import Engine, Publisher, PublishError, Session, ident, staging_name

if TYPE_CHECKING:
    from sluice.runtime.publish.warehouse import Warehouse

#: what Snowflake accepts as an unquoted identifier (and folds to upper case)
PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
#: a privilege as SHOW GRANTS names it: USAGE, MONITOR, CREATE DYNAMIC TABLE, ...
PRIVILEGE = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*")


class SnowflakePublisher(Publisher):
    engine = Engine.SNOWFLAKE

    def name(self, part: str) -> str:
        if not PLAIN.fullmatch(part):
            raise PublishError(
                f"Snowflake name {part!r} is not a plain identifier (letters, digits, _ and $, not "
                "starting with a digit): dbt creates Snowflake schemas unquoted, so atomic publish "
                "takes only such names; rename the schema or database in the dbt project"
            )
        return ident(part.upper())

    def stage_sql(self, wh: Warehouse, schema: str, kept: Sequence[str]) -> list[str]:
        if not wh.has(schema):
            return super().stage_sql(wh, schema, kept)
        # zero-copy: a clone costs nothing, whatever it holds is rebuilt or built upon
        return [f"create or replace schema {wh.q(staging_name(schema))} clone {wh.q(schema)}"]

    def publish_sql(self, wh: Warehouse, schemas: Sequence[str]) -> list[str]:
        # Snowflake DDL commits on its own, so several schemas cannot swap in one transaction: the
        # swaps run back to back (publish() swaps back after a failure half-way) and old versions
        # are dropped only after every swap succeeded
        out: list[str] = []
        for schema in schemas:
            staging = staging_name(schema)
            if wh.has(schema):
                out.append(f"alter schema {wh.q(staging)} swap with {wh.q(schema)}")
            else:
                out.append(f"alter schema {wh.q(staging)} rename to {wh.q(schema)}")
        out += [f"drop schema if exists {wh.q(staging_name(s))}" for s in schemas if wh.has(s)]
        return out

    def publish(self, session: Session, wh: Warehouse, schemas: Sequence[str], statements: list[str]) -> None:
        """Grant staging what live grants, swap schema by schema (swapping back those already
        swapped when one fails, so the zone stays on one version), then drop the old versions."""
        live = [s for s in schemas if wh.has(s)]
        session.run(grant_sql(wh, session.call("sluice_schema_grants", {"schemas": live})) if live else [])
        swapped: list[str] = []
        for schema, sql in zip(schemas, statements, strict=False):
            try:
                session.run([sql])
            except Exception:
                if swapped:
                    session.log("swapping back " + ", ".join(swapped) + " so the zone stays on one version")
                    session.run(undo_sql(wh, swapped))
                raise
            swapped.append(schema)
        session.run(statements[len(schemas) :])


def grant_sql(wh: Warehouse, grants: dict[str, list[list[str]]]) -> list[str]:
    """Grant on each staging schema what its live schema grants (ownership aside): a cloned or
    new schema starts without the live one's schema-level grants, and after the swap readers
    would lose USAGE on the zone."""
    out = []
    for schema, rows in grants.items():
        for privilege, granted_to, grantee in rows:
            if privilege.upper() == "OWNERSHIP" or granted_to.upper() not in ("ROLE", "DATABASE_ROLE"):
                continue
            if not PRIVILEGE.fullmatch(privilege):
                raise PublishError(
                    f"SHOW GRANTS on schema {wh.q(schema)} reported the privilege {privilege!r}, "
                    "which is not a privilege name; grant it on the schema by hand"
                )
            if granted_to.upper() == "DATABASE_ROLE":
                # shown as <database>.<role>: a database role lives in the schema's database
                to = "database role " + ".".join(_shown_ident(p) for p in grantee.split(".", 1))
            else:
                to = "role " + _shown_ident(grantee)
            out.append(f"grant {privilege.lower()} on schema {wh.q(staging_name(schema))} to {to}")
    return out


def _shown_ident(name: str) -> str:
    """A name as SHOW output gives it: the stored, case-exact name, or one already quoted."""
    if re.fullmatch(r'"(?:[^"]|"")+"', name):
        return name
    return ident(name)


def undo_sql(wh: Warehouse, swapped: Sequence[str]) -> list[str]:
    """Swap back the schemas a failed multi-schema publish already swapped, newest first."""
    out = []
    for schema in reversed(swapped):
        staging = staging_name(schema)
        if wh.has(schema):
            out.append(f"alter schema {wh.q(schema)} swap with {wh.q(staging)}")
        else:
            out.append(f"alter schema {wh.q(schema)} rename to {wh.q(staging)}")
    return out
