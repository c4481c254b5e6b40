"""Airbyte resources as written in airbyte_config/: strict pydantic models, one resource per file.

The sync modes, namespace definitions and schedule types are the public API's own enum values,
so what a file says is what the API receives, word for word.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"'{value}' must start with a letter and hold only letters, digits, _, . and -")
    return value


def _check_uuid(value: str) -> str:
    if not _UUID.match(value):
        raise ValueError(f"'{value}' is not a connector definition id (a UUID)")
    return value.lower()


ResourceName = Annotated[str, AfterValidator(_check_name)]
DefinitionId = Annotated[str, AfterValidator(_check_uuid)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Kind(StrEnum):
    SOURCE = "source"
    DESTINATION = "destination"
    CONNECTION = "connection"

    @property
    def folder(self) -> str:
        return f"{self.value}s"


class Definition(Strict):
    """The connector a source or destination runs: its definition id on the server, and a name
    for people (checked against the server's name of that definition by plan and apply)."""

    id: DefinitionId = Field(description="the connector definition id (UUID), e.g. from the Airbyte UI")
    name: str = Field(min_length=1, description="the connector's name, e.g. 'Sample Data (Faker)'")


class Actor(Strict):
    """A source or a destination."""

    resource_name: ResourceName = Field(description="the name of the resource on the server and in sluice")
    definition: Definition
    configuration: dict[str, Any] = Field(
        description="the connector's configuration, sent as written; secrets as ${ENV_VAR} references"
    )


class SyncMode(StrEnum):
    """The public API's ConnectionSyncModeEnum: source side and destination side in one word."""

    FULL_REFRESH_OVERWRITE = "full_refresh_overwrite"
    FULL_REFRESH_OVERWRITE_DEDUPED = "full_refresh_overwrite_deduped"
    FULL_REFRESH_APPEND = "full_refresh_append"
    FULL_REFRESH_UPDATE = "full_refresh_update"
    FULL_REFRESH_SOFT_DELETE = "full_refresh_soft_delete"
    INCREMENTAL_APPEND = "incremental_append"
    INCREMENTAL_DEDUPED_HISTORY = "incremental_deduped_history"
    INCREMENTAL_UPDATE = "incremental_update"
    INCREMENTAL_SOFT_DELETE = "incremental_soft_delete"

    @property
    def incremental(self) -> bool:
        return self.value.startswith("incremental")

    @property
    def deduped(self) -> bool:
        return "deduped" in self.value


class Stream(Strict):
    name: str = Field(min_length=1, description="the stream's name as the source reports it")
    sync_mode: SyncMode
    cursor_field: list[str] | None = Field(
        default=None, description="path of the cursor field; omit to use the source-defined cursor"
    )
    primary_key: list[list[str]] | None = Field(
        default=None, description="list of key paths, e.g. [[id]]; required for deduped modes"
    )

    @model_validator(mode="after")
    def _keys_fit_mode(self) -> Stream:
        if self.cursor_field is not None and not self.sync_mode.incremental:
            raise ValueError(f"cursor_field is only used by incremental modes, not {self.sync_mode.value}")
        if self.sync_mode.deduped and not self.primary_key:
            raise ValueError(f"{self.sync_mode.value} needs a primary_key, e.g. [[id]]")
        return self


class NamespaceDefinition(StrEnum):
    SOURCE = "source"
    DESTINATION = "destination"
    CUSTOM_FORMAT = "custom_format"


class Schedule(Strict):
    type: Literal["manual", "cron"] = "manual"
    cron: str | None = Field(default=None, description="Quartz cron expression, for type: cron")

    @model_validator(mode="after")
    def _cron_fits_type(self) -> Schedule:
        if self.type == "cron" and not self.cron:
            raise ValueError("type: cron needs a cron expression")
        if self.type == "manual" and self.cron:
            raise ValueError("cron is only used with type: cron")
        return self


class Connection(Strict):
    """A source synced to a destination: which streams, how, into which namespace, when."""

    resource_name: ResourceName
    source: ResourceName = Field(description="resource_name of a file under sources/")
    destination: ResourceName = Field(description="resource_name of a file under destinations/")
    namespace: str | None = Field(
        default=None,
        description="the destination schema (namespace format) for namespace_definition custom_format",
    )
    namespace_definition: NamespaceDefinition | None = Field(
        default=None, description="default: custom_format when namespace is set, else destination"
    )
    prefix: str = Field(default="", description="prefix of the destination table names")
    status: Literal["active", "inactive"] = "active"
    schedule: Schedule = Field(default_factory=Schedule)
    streams: list[Stream] = Field(min_length=1)

    @model_validator(mode="after")
    def _namespace_fits(self) -> Connection:
        if self.effective_namespace_definition is NamespaceDefinition.CUSTOM_FORMAT and not self.namespace:
            raise ValueError("namespace_definition custom_format needs a namespace")
        if self.namespace and self.effective_namespace_definition is not NamespaceDefinition.CUSTOM_FORMAT:
            raise ValueError("namespace is only used with namespace_definition: custom_format")
        names = [s.name for s in self.streams]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"stream {', '.join(twice)} listed twice")
        return self

    @property
    def effective_namespace_definition(self) -> NamespaceDefinition:
        if self.namespace_definition is not None:
            return self.namespace_definition
        return NamespaceDefinition.CUSTOM_FORMAT if self.namespace else NamespaceDefinition.DESTINATION
