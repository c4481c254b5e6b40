"""The interface every engine's publisher implements, and the names and errors they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sluice.errors import SluiceError

if TYPE_CHECKING:
    from sluice.runtime.publish.warehouse import Warehouse

STAGING_SUFFIX = "__staging"
RETIRED_SUFFIX = "__sluice_retired"


class Engine(StrEnum):
    """A warehouse sluice publishes atomic zones on, named as dbt names its adapter (the ``type``
    of a profiles.yml output, which ``sluice_describe`` reports)."""

    DUCKDB = "duckdb"
    POSTGRES = "postgres"
    SNOWFLAKE = "snowflake"
    REDSHIFT = "redshift"


class PublishError(SluiceError):
    """The stage or publish step of an atomic zone could not run."""


@dataclass(frozen=True)
class Relation:
    name: str
    type: str  # table | view | ...


def staging_name(schema: str) -> str:
    return schema + STAGING_SUFFIX


def ident(name: str) -> str:
    """One name as a quoted identifier, exactly as written."""
    return '"' + name.replace('"', '""') + '"'


class Session(Protocol):
    """The warehouse as a publisher reaches it: through the dbt project's sluice macros on dbt's
    own connection (sluice.runtime.zone), so no credentials are handled outside dbt."""

    def run(self, statements: Sequence[str]) -> None:
        """Run the statements (``sluice_run_sql``), logging each."""

    def call(self, macro: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one of the project's sluice macros and return what it answered."""

    def log(self, line: str) -> None:
        """Write a line to the task log."""


class Publisher(ABC):
    """How one engine names things, stages a zone and swaps it live.

    The engine-neutral checks (names, nothing staged, staging not this run's) are done before
    any of these is called (sluice.runtime.publish.statements); a method only says what differs.
    """

    engine: ClassVar[Engine]
    #: count(*) of a table is read from metadata, so the publish log can give row counts
    cheap_counts: ClassVar[bool] = True
    #: the warehouse's clock in SQL, for the zone lease's timestamps
    clock: ClassVar[str] = "current_timestamp"

    def name(self, part: str) -> str:
        """A name dbt wrote, quoted as the engine stores it (exactly, unless overridden)."""
        return ident(part)

    def qualify(self, database: str, parts: Sequence[str]) -> str:
        """A qualified identifier of names dbt wrote, starting with the database."""
        return ".".join(self.name(p) for p in (database, *parts))

    def stage_sql(self, wh: Warehouse, schema: str, kept: Sequence[str]) -> list[str]:
        """Empty the staging copy of ``schema``, then copy into it the live relations named in
        ``kept`` (incremental models and snapshots, which build on their history)."""
        staging = staging_name(schema)
        live_names = {r.name.lower() for r in wh.rels(schema)}
        out = [f"drop schema if exists {wh.q(staging)} cascade", f"create schema {wh.q(staging)}"]
        for name in kept:
            if name.lower() in live_names:
                # identifiers are quoted by q(); the query has no values in it
                out.append(f"create table {wh.q(staging, name)} as select * from {wh.q(schema, name)}")  # noqa: S608
        return out

    @abstractmethod
    def publish_sql(self, wh: Warehouse, schemas: Sequence[str]) -> list[str]:
        """The statements that make every staged schema of the zone live at once."""

    def publish(self, session: Session, wh: Warehouse, schemas: Sequence[str], statements: list[str]) -> None:
        """Run ``statements`` (what publish_sql gave). An engine whose statements cannot all run
        in one transaction overrides this to undo a half-done publish."""
        session.run(statements)
