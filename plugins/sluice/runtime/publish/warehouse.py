"""What ``sluice_describe`` found in the warehouse, parsed, with its engine's publisher."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sluice.runtime.publish.base import Engine, Publisher, PublishError, Relation
from sluice.runtime.publish.registry import publisher_for

RESULT_MARK = "SLUICE-RESULT "


@dataclass(frozen=True)
class Warehouse:
    """What ``sluice_describe`` found: engine, database, schemas and their relations."""

    engine: Engine
    database: str
    exists: dict[str, bool]
    relations: dict[str, tuple[Relation, ...]]
    #: "schema.view" -> its SQL, for views that bind by name: every view on DuckDB, late-binding
    #: views (WITH NO SCHEMA BINDING) on Redshift
    views: dict[str, str]

    @classmethod
    def from_result(cls, data: dict[str, Any]) -> Warehouse:
        schemas: dict[str, Any] = data["schemas"]
        return cls(
            engine=publisher_for(str(data["type"])).engine,
            database=str(data["database"]),
            exists={s: bool(v["exists"]) for s, v in schemas.items()},
            relations={
                s: tuple(Relation(str(r["name"]), str(r["type"])) for r in v["relations"])
                for s, v in schemas.items()
            },
            views={str(k): str(v) for k, v in data.get("views", {}).items()},
        )

    @property
    def publisher(self) -> Publisher:
        return publisher_for(self.engine)

    def has(self, schema: str) -> bool:
        return self.exists.get(schema.lower(), False)

    def rels(self, schema: str) -> tuple[Relation, ...]:
        return self.relations.get(schema.lower(), ())

    def q(self, *parts: str) -> str:
        """A qualified identifier in this warehouse's database, as its engine writes it."""
        return self.publisher.qualify(self.database, parts)


def result_of(lines: Sequence[str]) -> dict[str, Any]:
    """The JSON a sluice macro logged after its marker."""
    for line in reversed(lines):
        at = line.find(RESULT_MARK)
        if at >= 0:
            data: dict[str, Any] = json.loads(line[at + len(RESULT_MARK) :])
            return data
    raise PublishError("the dbt project did not answer sluice_describe; copy dbt/macros/sluice into it")
