"""The pipeline spec as pydantic v2 models; unknown keys are errors everywhere."""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    create_model,
    field_validator,
    model_validator,
)
from pydantic import (
    Tag as UnionTag,
)
from pydantic.fields import FieldInfo

from sluice.spec.selectors import Place, check

Environment = Literal["local", "dev", "prod"]
ENVIRONMENTS: tuple[Environment, ...] = ("local", "dev", "prod")

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Strict(BaseModel):
    # inf and nan would pass gt=0 and then overflow timedelta at import time
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TestMode(StrEnum):
    """When a model's tests run, and what they hold back when they fail."""

    AFTER_MODEL = "after_model"  # a failing blocking test stops the model's children
    AFTER_ZONE = "after_zone"  # tests run beside the zone's models and only hold the gateway
    NONE = "none"  # no test tasks at all


class UnassignedPolicy(StrEnum):
    ERROR = "error"
    WARN = "warn"


class PublishMode(StrEnum):
    """How a zone's result becomes visible to the zones and readers after it."""

    BARRIER = "barrier"  # later zones wait for the zone's gateway; models go live as they build
    ATOMIC = "atomic"  # the zone builds in a staging copy that its publish task swaps live at once


class ExecutionMode(StrEnum):
    """How a dbt task runs dbt."""

    WORKER = "worker"  # a warm dbt process per machine, shared by the tasks
    SUBPROCESS = "subprocess"  # a fresh dbt process per task


def check_selector(raw: str, place: Place = Place.ZONE) -> str:
    """``raw`` if a spec may write it at ``place`` (sluice.spec.selectors); else ValueError."""
    return check(raw, place)


def _selector(place: Place) -> AfterValidator:
    return AfterValidator(lambda raw: check(raw, place))


#: a zone's selector: it must be able to select nodes sluice builds
Selector = Annotated[str, _selector(Place.ZONE)]
PipelineSelector = Annotated[str, _selector(Place.SELECT)]
ExcludeSelector = Annotated[str, _selector(Place.EXCLUDE)]


def check_identifier(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"'{value[:80]}' must start with a letter and hold only letters, digits and _")
    return value


def _at_most(limit: int, why: str) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"{len(value)} characters; {why} is at most {limit}")
        return value

    return AfterValidator(check)


#: a name that is safe in an Airflow dag_id or task group id
Identifier = Annotated[str, AfterValidator(check_identifier)]
#: Airflow's limit for a dag_id is 250 characters
PipelineId = Annotated[Identifier, _at_most(250, "an Airflow dag_id")]
#: Airflow allows a TaskGroup id 200 characters; 64 leaves task names room in their 250
ZoneName = Annotated[Identifier, _at_most(64, "a zone name")]
#: the sync task id is ``ingest.<connection>``
ConnectionName = Annotated[Identifier, _at_most(200, "a connection name")]
Tag = Annotated[str, _at_most(100, "an Airflow DAG tag")]
#: the longest timeout or delay in minutes: four weeks
MAX_MINUTES = 40_320


class Selection(Strict):
    """Which dbt nodes a pipeline covers; default: every node of the root project."""

    select: tuple[PipelineSelector, ...] = ()
    exclude: tuple[ExcludeSelector, ...] = ()


class DbtSettings(Selection):
    project_dir: str = Field("../../dbt", description="The dbt project, relative to the spec file.")
    manifest: str | None = Field(
        None, description="manifest.json to plan from; default <project_dir>/target/manifest.json."
    )
    profiles_dir: str | None = Field(None, description="Default: the project directory.")
    target: str = Field("local", description="dbt target; SLUICE_DBT_TARGET overrides it at run time.")
    executable: str | None = Field(
        None,
        description="dbt executable; default: SLUICE_DBT_EXECUTABLE, else dbt beside Python.",
    )
    execution: ExecutionMode = Field(
        ExecutionMode.WORKER,
        description="worker: tasks share a warm dbt process per machine (no ~3 s start per task); "
        "subprocess: a fresh dbt process per task. SLUICE_DBT_EXECUTION overrides it.",
    )


class Defaults(Strict):
    """Airflow task defaults for every task of the pipeline."""

    retries: int = Field(0, ge=0, le=20)
    retry_delay_minutes: float = Field(5, gt=0, le=MAX_MINUTES)
    execution_timeout_minutes: float | None = Field(60, gt=0, le=MAX_MINUTES)
    pool: str | None = Field(None, min_length=1, max_length=256)


class Zone(Strict):
    name: ZoneName = Field(description="Zone name, e.g. bronze; becomes the Airflow TaskGroup.")
    select: tuple[Selector, ...] = Field(
        description="dbt selectors (path:, tag:, fqn:, config.<key>:, group:, access:, version:, ...; "
        "a comma intersects, a space unites); a node goes to the first zone that selects it."
    )
    publish: PublishMode = Field(
        PublishMode.BARRIER,
        description=(
            "barrier: later zones wait for this zone's gateway. atomic: the zone builds and tests "
            "in a staging copy of its schemas, and its publish task swaps them live all at once."
        ),
    )
    description: str | None = None

    @field_validator("select")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a zone needs at least one selector")
        return value


#: the TaskGroup of the sync tasks, so no zone may take its name
INGEST_GROUP = "ingest"
#: the TaskGroup of the event streams' archival tasks, after the last zone: in the ingest group
#: they would make that group both precede and follow the zones, a cycle to Airflow's graph view
ARCHIVE_GROUP = "archive"


#: an SQS queue URL, as S3 bucket notifications are configured with (any endpoint: a local one too)
SqsQueueUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+/\d{12}/[A-Za-z0-9_-]{1,80}$", max_length=1024)]


class Ingest(Strict):
    """What lands raw data before the first zone: Airbyte connections synced and event streams
    loaded, one task each."""

    connections: tuple[ConnectionName, ...] = Field(
        (), description="Resource names of connections under airbyte_config/connections."
    )
    airbyte_config: str = Field(
        "../../airbyte_config", description="The Airbyte YAML folder, relative to this spec."
    )
    poll_seconds: float = Field(
        15, gt=0, le=3600, description="How often the triggerer asks Airbyte about the job."
    )
    timeout_minutes: float = Field(
        120, gt=0, le=MAX_MINUTES, description="A sync running longer fails its task and is cancelled."
    )
    airbyte_conn_id: str | None = Field(
        None,
        description="Airflow connection of the Airbyte server, else a local sync; "
        "SLUICE_AIRBYTE_CONN_ID or AIRBYTE_URL overrides it.",
    )
    event_streams: tuple[ConnectionName, ...] = Field(
        (),
        description="Names of event streams under event_streams/: each loads what landed in S3 "
        "since its last load, and archives rows past its hot window after the run.",
    )
    event_streams_dir: str = Field(
        "../../event_streams", description="The event streams folder, relative to this spec."
    )
    aws_conn_id: str | None = Field(
        None,
        min_length=1,
        max_length=250,
        description="Airflow connection for S3 (its extra may set endpoint_url); default: the AWS "
        "SDK's own chain (AWS_ENDPOINT_URL, AWS_PROFILE, the instance role).",
    )

    landing_queues: dict[ConnectionName, SqsQueueUrl] = Field(
        default_factory=dict,
        description="Per event stream, the SQS queue its bucket announces new files on: a message "
        "there starts a run (an Airflow AssetWatcher in the triggerer), besides the schedule.",
    )

    @field_validator("connections", "event_streams")
    @classmethod
    def _each_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a name is listed twice")
        return value

    @model_validator(mode="after")
    def _something(self) -> Ingest:
        if not self.connections and not self.event_streams:
            raise ValueError("list at least one connection or event stream, or leave ingest out")
        both = sorted(set(self.connections) & set(self.event_streams))
        if both:
            raise ValueError(f"{', '.join(both)}: two ingest tasks would share this task id; rename one")
        unknown = sorted(set(self.landing_queues) - set(self.event_streams))
        if unknown:
            raise ValueError(f"landing_queues names {', '.join(unknown)}, not in event_streams")
        return self


def check_zone_ref(value: str) -> str:
    pipeline, dot, zone = value.partition(".")
    if not dot:
        raise ValueError(f"'{value[:80]}': name a zone as pipeline.zone, e.g. payments_daily.gold")
    check_identifier(pipeline)
    check_identifier(zone)
    return value


class After(Strict):
    """Run when other pipelines' zones have published: Airflow Assets, one per zone."""

    after: tuple[Annotated[str, AfterValidator(check_zone_ref)], ...] = Field(
        description="Zones as pipeline.zone (atomic zones: their publish announces them); the "
        "pipeline runs once each has published since its last run.",
    )

    @field_validator("after")
    @classmethod
    def _some_zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one zone, e.g. [payments_daily.gold]")
        return value


class NotifyOn(StrEnum):
    FAILURE = "failure"  # a task failed (a model, a test, a sync)
    BLOCKED = "blocked_publish"  # an atomic zone was not published: live stays on the old version
    SUCCESS = "success"  # the whole run succeeded


class SlackTarget(Strict):
    connection: Identifier = Field(
        description="Airflow connection (type slackwebhook) holding the webhook URL; never the URL here."
    )


class SnsTarget(Strict):
    topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
    aws_connection: Identifier = "aws_default"


class Notify(Strict):
    """Messages on failure, on a blocked publish and optionally on success, through Airflow's
    own notifiers (Slack webhook, e-mail, Amazon SNS)."""

    # not ``on``: YAML 1.1 reads that key as the boolean true
    when: tuple[NotifyOn, ...] = Field(
        (NotifyOn.FAILURE, NotifyOn.BLOCKED), description="failure, blocked_publish and/or success."
    )
    slack: SlackTarget | None = None
    email: tuple[Annotated[str, Field(pattern=r"^[^@\s,;]+@[^@\s,;]+$", max_length=254)], ...] = Field(
        (), description="Addresses, sent through Airflow's SMTP connection (smtp_default)."
    )
    sns: SnsTarget | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> Notify:
        if not (self.slack or self.email or self.sns):
            raise ValueError("say where to send: slack, email and/or sns")
        if not self.when:
            raise ValueError("name at least one of failure, blocked_publish, success in when")
        return self


def _schedule_kind(value: Any) -> str:
    return "tag:after" if isinstance(value, Mapping | After) else "tag:cron"


#: a mapping is read as ``{after: [...]}`` and anything else as a cron string, so an error names
#: one of them (a plain union would report against both); reader.py drops the tag from the key
Schedule = Annotated[
    Annotated[str, UnionTag("tag:cron")] | Annotated[After, UnionTag("tag:after")],
    Discriminator(_schedule_kind),
]


class PipelineSpec(Strict):
    """One pipeline: one Airflow DAG."""

    pipeline: PipelineId = Field(description="Pipeline id; becomes the Airflow dag_id.")
    description: str = ""
    owner: str = Field("data-platform", min_length=1, max_length=500)
    schedule: Schedule | None = Field(
        None, description="Cron, preset (@daily), {after: [pipeline.zone, ...]} or null for manual."
    )
    start_date: date = date(2024, 1, 1)
    catchup: bool = False
    is_paused_upon_creation: bool = True
    tags: tuple[Tag, ...] = ()
    max_active_runs: int = Field(
        1,
        ge=1,
        le=64,
        description="DAG runs at once. 1 (the default) keeps a run's zones from overlapping the next's.",
    )
    dagrun_timeout_minutes: float | None = Field(None, gt=0, le=MAX_MINUTES)
    defaults: Defaults = Defaults()
    dbt: DbtSettings = DbtSettings()
    ingest: Ingest | None = Field(None, description="Airbyte syncs that run before the first zone.")
    notify: Notify | None = Field(None, description="Alerts: where to send them and on what.")
    tests: TestMode = TestMode.AFTER_MODEL
    unassigned: UnassignedPolicy = UnassignedPolicy.ERROR
    zones: tuple[Zone, ...] = Field(description="Zones in build order, e.g. bronze, silver, gold.")
    environments: dict[Environment, EnvironmentOverride] = Field(
        default_factory=dict, description="Overrides per environment, chosen by SLUICE_ENV."
    )

    @field_validator("zones")
    @classmethod
    def _some_zones(cls, value: tuple[Zone, ...]) -> tuple[Zone, ...]:
        if not value:
            raise ValueError("a pipeline needs at least one zone")
        return value

    @model_validator(mode="after")
    def _landing_fits_schedule(self) -> PipelineSpec:
        if self.ingest and self.ingest.landing_queues and self.schedule in ("@once", "@continuous"):
            raise ValueError(f"schedule {self.schedule} cannot be combined with ingest.landing_queues")
        return self


#: what an environment may not override: which pipeline it is, and its zones
NOT_OVERRIDDEN = frozenset({"pipeline", "zones", "environments"})


def _section(annotation: Any) -> bool:
    """A nested section of the spec (``dbt:``, ``defaults:``, ``ingest:``); not a key that may
    also be a plain value (``schedule:``, a cron string or ``{after: [...]}``)."""
    members = [m for m in typing.get_args(annotation) or (annotation,) if m is not type(None)]
    return all(isinstance(m, type) and issubclass(m, BaseModel) for m in members)


def _optional(info: FieldInfo) -> tuple[Any, Any]:
    """The pipeline's field, optional. A nested section stays a mapping: each environment's merged
    spec is validated as a whole, so a bad nested key is reported at its line in ``environments``."""
    if _section(info.annotation):
        return dict[str, object] | None, Field(None, description=info.description)
    annotation: Any = info.annotation
    optional: Any = annotation | None
    if info.metadata:  # its bounds (ge, max_length, ...) hold for a value that is given
        optional = Annotated[optional, *info.metadata]
    return optional, Field(None, description=info.description)


def _environment_override() -> type[Strict]:
    """Derived from PipelineSpec, so every key a pipeline gains can be overridden per environment."""
    fields: dict[str, Any] = {
        name: _optional(info)
        for name, info in PipelineSpec.model_fields.items()
        if name not in NOT_OVERRIDDEN
    }
    return create_model(
        "EnvironmentOverride",
        __base__=Strict,
        __doc__="Partial overrides: the same keys as the pipeline, every one optional, merged key by key.",
        **fields,
    )


if typing.TYPE_CHECKING:

    class EnvironmentOverride(Strict):
        """Partial overrides: the same keys as the pipeline, every one optional."""

else:
    EnvironmentOverride = _environment_override()
PipelineSpec.model_rebuild()
