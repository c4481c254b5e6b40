"""An event stream as written in event_streams/<name>.yaml: strict pydantic models."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


def _check_ident(value: str) -> str:
    if not _IDENT.match(value) or len(value) > 63:
        raise ValueError(f"'{value[:80]}' must be a plain SQL name: letters, digits and _ (at most 63)")
    return value


def _check_stream_name(value: str) -> str:
    if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", value) or len(value) > 200:
        raise ValueError(f"'{value[:80]}' must start with a letter and hold only letters, digits and _")
    return value


def _check_table(value: str) -> str:
    schema, dot, table = value.partition(".")
    if not dot:
        raise ValueError(f"'{value[:80]}': name the table as schema.table, e.g. raw_events.payment_status")
    _check_ident(schema)
    _check_ident(table)
    return value


StreamName = Annotated[str, AfterValidator(_check_stream_name)]
SqlName = Annotated[str, AfterValidator(_check_ident)]
TableName = Annotated[str, AfterValidator(_check_table)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FileFormat(StrEnum):
    """How an object's bytes hold events (an object whose key ends in .gz is gunzipped first)."""

    JSONL = "jsonl"  # one JSON object per line
    CSV = "csv"  # a header row, then one event per row; cells typed by the schema's properties
    PARQUET = "parquet"  # one event per row


class Location(Strict):
    """Where the stream's files land."""

    bucket: str = Field(description="S3 bucket name (no s3:// prefix)")
    prefix: str = Field(
        min_length=1,
        max_length=1024,
        description="key prefix of the stream's objects, e.g. payment_status/; every object under it "
        "is loaded",
    )
    format: FileFormat = Field(description="jsonl, csv or parquet")

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError(f"'{value[:80]}' is not an S3 bucket name (3-63 of a-z, 0-9, . and -)")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value.startswith("/"):
            raise ValueError("an S3 key prefix does not start with /")
        return value


class SchemaVersion(Strict):
    """One version of the event's JSON Schema. A published version is never edited: a change is a
    new file and a new entry here. ``sha256`` records the file as published; sluice refuses a
    file that no longer matches it, and a warehouse that loaded the version with another hash."""

    version: int = Field(ge=1, le=10_000, description="1, 2, ... in the order they were published")
    file: str = Field(min_length=1, description="the JSON Schema file, relative to this YAML file")
    sha256: str | None = Field(
        None,
        description="sha256:<hex> of the file's bytes as published; `sluice validate` says the value "
        "to write",
    )

    @field_validator("sha256")
    @classmethod
    def _hash(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError("write it as sha256:<64 lowercase hex digits>")
        return value


class Retention(Strict):
    """How long events stay where: rows in the warehouse (hot), then the files in S3 Standard-IA
    (warm), then in Glacier (cold). Archival deletes rows past hot_days; the S3 lifecycle rules
    move the files."""

    hot_days: int = Field(ge=1, le=36_500, description="days rows stay in the warehouse")
    warm_days: int = Field(ge=0, le=36_500, description="days files then stay in S3 Standard-IA")
    cold_days: int = Field(ge=0, le=36_500, description="days files then stay in Glacier before expiry")


class EventStream(Strict):
    """One stream of domain events landing as files in S3, loaded into one raw table."""

    name: StreamName = Field(description="the stream's name; a spec's ingest.event_streams names it")
    description: str = ""
    source: Location
    event_time_field: str = Field(
        min_length=1,
        max_length=255,
        description="top-level property holding the event's time (ISO 8601); retention ages rows by it",
    )
    version_field: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="top-level property naming the schema version an event follows; default: the latest",
    )
    schemas: tuple[SchemaVersion, ...] = Field(description="every published version of the event's schema")
    raw_table: TableName = Field(description="schema.table the valid events land in")
    quarantine_table: TableName | None = Field(
        None, description="schema.table for events that fail their schema; default <raw_table>_quarantine"
    )
    retention: Retention

    @field_validator("schemas")
    @classmethod
    def _versions(cls, value: tuple[SchemaVersion, ...]) -> tuple[SchemaVersion, ...]:
        if not value:
            raise ValueError("list at least one schema version")
        numbers = [v.version for v in value]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"versions are 1, 2, ... in order, each once; found {numbers}")
        return value

    @model_validator(mode="after")
    def _tables_differ(self) -> EventStream:
        if self.quarantine_table is not None and self.quarantine_table.lower() == self.raw_table.lower():
            raise ValueError("quarantine_table must differ from raw_table")
        return self

    @property
    def quarantine(self) -> str:
        return self.quarantine_table or f"{self.raw_table}_quarantine"

    @property
    def raw_schema(self) -> str:
        return self.raw_table.split(".", 1)[0]

    @property
    def latest(self) -> int:
        return self.schemas[-1].version
