"""Atomic zone publish: the SQL that stages a zone and swaps it live, per engine.

An atomic zone's models build into ``<schema>__staging`` (dbt's generate_schema_name calls the
project's ``sluice_schema`` macro, driven by the ``sluice_staging`` var). Its stage task empties
the staging copy and seeds it with the live incremental models and snapshots, which must keep
their history; its publish task swaps staging and live in one step:

- Snowflake: ``ALTER SCHEMA ... SWAP WITH ...`` per schema, then the old version is dropped;
- PostgreSQL: both renames per schema inside one transaction;
- DuckDB (no schema rename): one transaction that replaces every live relation with its staged
  copy and drops the staging schema; other connections see the old zone or the new, never a mix.

The statements are built here, in plain Python, and run by the project's ``sluice_run_sql``
macro on dbt's own connection, so no credentials are handled outside dbt.

Every name in them is a quoted identifier, so no schema, table or role name can end a statement
or change its meaning. DuckDB and PostgreSQL names are quoted exactly as dbt quotes them. dbt
creates Snowflake schemas unquoted, which Snowflake stores upper-cased: a schema or database name
is quoted upper-cased, and one that could not have been written unquoted (anything but letters,
digits, ``_`` and ``$``, not starting with a digit) is refused with an error rather than guessed
at. Names Snowflake reports itself (relations, grantee roles) are stored names, quoted exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sluice.errors import SluiceError

STAGING_SUFFIX = "__staging"
RETIRED_SUFFIX = "__sluice_retired"
RESULT_MARK = "SLUICE-RESULT "
ENGINES = ("duckdb", "postgres", "snowflake")
#: what Snowflake accepts as an unquoted identifier (and folds to upper case)
SNOWFLAKE_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
#: a privilege as SHOW GRANTS names it: USAGE, MONITOR, CREATE DYNAMIC TABLE, ...
SNOWFLAKE_PRIVILEGE = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*")


class PublishError(SluiceError):
    """The stage or publish step of an atomic zone could not run."""


def staging_name(schema: str) -> str:
    return schema + STAGING_SUFFIX


def quote(engine: str, *parts: str) -> str:
    """A qualified identifier of names dbt wrote: quoted exactly, or on Snowflake, where dbt
    writes them unquoted, quoted as Snowflake stores them (upper-cased)."""
    if engine == "snowflake":
        return ".".join(_ident(_snowflake_stored(p)) for p in parts)
    return ".".join(_ident(p) for p in parts)


def _snowflake_stored(name: str) -> str:
    if not SNOWFLAKE_PLAIN.fullmatch(name):
        raise PublishError(
            f"Snowflake name {name!r} is not a plain identifier (letters, digits, _ and $, not "
            "starting with a digit): dbt creates Snowflake schemas unquoted, so atomic publish "
            "takes only such names; rename the schema or database in the dbt project"
        )
    return name.upper()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Relation:
    name: str
    type: str  # table | view | ...


@dataclass(frozen=True)
class Warehouse:
    """What ``sluice_describe`` found: engine, database, schemas and their relations."""

    engine: str
    database: str
    exists: dict[str, bool]
    relations: dict[str, tuple[Relation, ...]]
    views: dict[str, str]  # "schema.view" -> CREATE VIEW statement (DuckDB only)

    @classmethod
    def from_result(cls, data: dict[str, Any]) -> Warehouse:
        engine = str(data["type"])
        if engine not in ENGINES:
            raise PublishError(
                f"atomic publish does not support dbt adapter '{engine}' (use one of {ENGINES})"
            )
        schemas: dict[str, Any] = data["schemas"]
        return cls(
            engine=engine,
            database=str(data["database"]),
            exists={s: bool(v["exists"]) for s, v in schemas.items()},
            relations={
                s: tuple(Relation(str(r["name"]), str(r["type"])) for r in v["relations"])
                for s, v in schemas.items()
            },
            views={str(k): str(v) for k, v in data.get("views", {}).items()},
        )

    def has(self, schema: str) -> bool:
        return self.exists.get(schema.lower(), False)

    def rels(self, schema: str) -> tuple[Relation, ...]:
        return self.relations.get(schema.lower(), ())

    def q(self, *parts: str) -> str:
        # PostgreSQL names no other database, and refuses a schema named with its database
        return (
            quote(self.engine, *parts)
            if self.engine == "postgres"
            else quote(self.engine, self.database, *parts)
        )


def result_of(lines: Sequence[str]) -> dict[str, Any]:
    """The JSON a sluice macro logged after its marker."""
    for line in reversed(lines):
        at = line.find(RESULT_MARK)
        if at >= 0:
            data: dict[str, Any] = json.loads(line[at + len(RESULT_MARK) :])
            return data
    raise PublishError("the dbt project did not answer sluice_describe; copy dbt/macros/sluice into it")


def stage_sql(wh: Warehouse, schemas: Sequence[str], keep: Sequence[str]) -> list[str]:
    """Empty each staging schema, then copy the live relations in ``keep`` ("schema.name":
    incremental models and snapshots, which must build on their history) into it."""
    _check_names(wh, schemas)
    out: list[str] = []
    for schema in schemas:
        staging = staging_name(schema)
        live_names = {r.name.lower() for r in wh.rels(schema)}
        kept = [name for owner, name in _kept(schemas, keep) if owner == schema]
        if wh.engine == "snowflake" and wh.has(schema):
            # zero-copy: a clone costs nothing, whatever it holds is rebuilt or built upon
            out.append(f"create or replace schema {wh.q(staging)} clone {wh.q(schema)}")
            continue
        out.append(f"drop schema if exists {wh.q(staging)} cascade")
        out.append(f"create schema {wh.q(staging)}")
        for name in kept:
            if name.lower() in live_names:
                # identifiers are quoted by q(); the query has no values in it
                out.append(f"create table {wh.q(staging, name)} as select * from {wh.q(schema, name)}")  # noqa: S608
    return out


def _check_names(wh: Warehouse, schemas: Sequence[str]) -> None:
    """Refuse a name the engine's SQL cannot carry (Snowflake) as the user wrote it, before the
    staging and retired names built on it."""
    for schema in schemas:
        wh.q(schema)


def _kept(schemas: Sequence[str], keep: Sequence[str]) -> list[tuple[str, str]]:
    """Split each "schema.name" of ``keep`` at its schema, which may hold a dot itself."""
    out = []
    for entry in keep:
        owners = [s for s in schemas if entry.startswith(s + ".")]
        if owners:
            owner = max(owners, key=len)
            out.append((owner, entry[len(owner) + 1 :]))
    return out


def publish_sql(wh: Warehouse, schemas: Sequence[str], relations: Sequence[str] = ()) -> list[str]:
    """The statements that make every staged schema live at once. Empty staging is an error, and
    so is staging that lacks any of ``relations`` ("schema.name": what the zone built this run):
    it is not this run's copy, and publishing it would drop live tables."""
    _check_names(wh, schemas)
    missing = [s for s in schemas if not wh.has(staging_name(s))]
    if missing:
        raise PublishError(
            "nothing staged to publish: " + ", ".join(wh.q(staging_name(s)) for s in missing) + " missing"
        )
    absent = unstaged(wh, schemas, relations)
    if absent:
        raise PublishError(
            f"staging lacks {len(absent)} relation(s) this run built: "
            + ", ".join(absent)
            + "; it is not this run's staging copy, so live stays as it was"
        )
    if wh.engine == "snowflake":
        return _snowflake_publish(wh, schemas)
    if wh.engine == "postgres":
        return _postgres_publish(wh, schemas)
    return _duckdb_publish(wh, schemas)


def unstaged(wh: Warehouse, schemas: Sequence[str], relations: Sequence[str]) -> list[str]:
    """The relations ("schema.name") missing from their schema's staging copy."""
    wanted = _kept(schemas, relations)
    staged = {(s.lower(), r.name.lower()) for s, _ in wanted for r in wh.rels(staging_name(s))}
    return [wh.q(staging_name(s), name) for s, name in wanted if (s.lower(), name.lower()) not in staged]


def _snowflake_publish(wh: Warehouse, schemas: Sequence[str]) -> list[str]:
    # Snowflake DDL commits on its own, so several schemas cannot swap in one transaction: the
    # swaps run back to back (see undo_sql for a failure half-way) and old versions are dropped
    # only after every swap succeeded
    out: list[str] = []
    for schema in schemas:
        staging = staging_name(schema)
        if wh.has(schema):
            out.append(f"alter schema {wh.q(staging)} swap with {wh.q(schema)}")
        else:
            out.append(f"alter schema {wh.q(staging)} rename to {wh.q(schema)}")
    out += [f"drop schema if exists {wh.q(staging_name(s))}" for s in schemas if wh.has(s)]
    return out


def snowflake_grant_sql(wh: Warehouse, grants: dict[str, list[list[str]]]) -> list[str]:
    """Grant on each staging schema what its live schema grants (ownership aside): a cloned or
    new schema starts without the live one's schema-level grants, and after the swap readers
    would lose USAGE on the zone."""
    out = []
    for schema, rows in grants.items():
        for privilege, granted_to, grantee in rows:
            if privilege.upper() == "OWNERSHIP" or granted_to.upper() not in ("ROLE", "DATABASE_ROLE"):
                continue
            if not SNOWFLAKE_PRIVILEGE.fullmatch(privilege):
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
    return _ident(name)


def snowflake_undo_sql(wh: Warehouse, swapped: Sequence[str]) -> list[str]:
    """Swap back the schemas a failed multi-schema publish already swapped, newest first."""
    out = []
    for schema in reversed(swapped):
        staging = staging_name(schema)
        if wh.has(schema):
            out.append(f"alter schema {wh.q(schema)} swap with {wh.q(staging)}")
        else:
            out.append(f"alter schema {wh.q(schema)} rename to {wh.q(staging)}")
    return out


def _postgres_publish(wh: Warehouse, schemas: Sequence[str]) -> list[str]:
    body: list[str] = []
    for schema in schemas:
        if wh.has(schema):
            body.append(f"alter schema {wh.q(schema)} rename to {_ident(schema + RETIRED_SUFFIX)}")
        body.append(f"alter schema {wh.q(staging_name(schema))} rename to {_ident(schema)}")
    out = ["begin; " + "; ".join(body) + "; commit"]
    # after the commit: readers of the old version finish first, the new one is already live
    out += [f"drop schema if exists {wh.q(s + RETIRED_SUFFIX)} cascade" for s in schemas if wh.has(s)]
    return out


def _duckdb_publish(wh: Warehouse, schemas: Sequence[str]) -> list[str]:
    body: list[str] = []
    for schema in schemas:
        staging = staging_name(schema)
        staged = wh.rels(staging)
        body.append(f"create schema if not exists {wh.q(schema)}")
        names = {r.name for r in staged}
        for rel in wh.rels(schema):
            if rel.name not in names:  # a model removed from the project leaves with this publish
                kind = "view" if rel.type == "view" else "table"
                body.append(f"drop {kind} if exists {wh.q(schema, rel.name)}")
        for rel in staged:
            live = wh.q(schema, rel.name)
            if any(r.name == rel.name and r.type != rel.type for r in wh.rels(schema)):
                other = "table" if rel.type == "view" else "view"
                body.append(f"drop {other} if exists {live}")
            if rel.type == "view":
                body.append(_duckdb_view(wh, staging, schema, rel.name))
            else:
                body.append(f"create or replace table {live} as select * from {wh.q(staging, rel.name)}")  # noqa: S608
        body.append(f"drop schema {wh.q(staging)} cascade")
    return ["begin transaction; " + "; ".join(body) + "; commit"]


def _duckdb_view(wh: Warehouse, staging: str, schema: str, name: str) -> str:
    """DuckDB stores a view's SQL and binds names when queried: re-create the view in the live
    schema with its references to the staging schema pointed at the live one."""
    sql = wh.views.get(f"{staging.lower()}.{name}")
    if sql is None:
        raise PublishError(f"no SQL found for the staged view {wh.q(staging, name)}")
    # DuckDB writes a name bare when it can and quoted otherwise; names match case-insensitively
    forms = [re.escape(_ident(staging))] + ([re.escape(staging)] if re.fullmatch(r"\w+", staging) else [])
    pattern = re.compile(r'(?<![\w"])(?:' + "|".join(forms) + r')(?![\w"])', re.IGNORECASE)
    live = _ident(schema)
    sql = pattern.sub(lambda _: live, sql.strip().rstrip(";"))
    return re.sub(r"^create\s+view", "create or replace view", sql, count=1, flags=re.IGNORECASE)


def relation_listing(wh: Warehouse, schema: str, log: Callable[[str], None]) -> None:
    """Tell a reader of the log how to look at what a blocked publish left in staging."""
    staging = staging_name(schema)
    rels = wh.rels(staging)
    if not rels:
        log(f"  {wh.q(staging)} holds nothing yet")
        return
    for rel in rels:
        # the warehouse's own name for the relation, exact on every engine
        log(f"  select * from {wh.q(staging)}.{_ident(rel.name)};  -- staged {rel.type}")  # noqa: S608
