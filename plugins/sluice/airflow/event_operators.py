"""Event stream tasks: load what landed in S3 since the last load, and archive rows past the hot
window. The work is sluice.events'; this module gives it S3 and the warehouse: S3 through the
Amazon provider's hook (the spec's ``aws_conn_id``, else the AWS SDK's own chain, which reads
AWS_ENDPOINT_URL), the warehouse of the pipeline's dbt target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from sluice.errors import EventConfigError, SpecErrors
from sluice.events.config import StreamFile, load_stream
from sluice.events.config import load_streams as load_all_streams
from sluice.runtime.dbt import dbt_target


def s3_client(aws_conn_id: str | None) -> Any:
    """A boto3 S3 client: the Airflow connection's credentials and endpoint, else the SDK's chain."""
    if aws_conn_id:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=aws_conn_id).get_conn()
    import boto3

    return boto3.client("s3")


def stream_file(streams_dir: Path, stream: str) -> StreamFile:
    """The stream's file, found by name; a broken file fails the task with its error lines and
    no retry (a retry reads the same file)."""
    try:
        for path in sorted(streams_dir.glob("*.y*ml")):
            if path.stem == stream:
                found = load_stream(path)
                if found.name == stream:
                    return found
        return load_all_streams(streams_dir).stream(stream)
    except (SpecErrors, EventConfigError) as exc:
        raise AirflowFailException(str(exc)) from None


class EventStreamOperator(BaseOperator):
    """Loads (or, with ``archive``, archives) one event stream. Built with :func:`event_task`."""

    ui_color = "#c9e4c5"
    stream: str = ""
    streams_dir: Path = Path("event_streams")
    aws_conn_id: str | None = None
    archive: bool = False
    project_dir: Path = Path("dbt")
    profiles_dir: Path = Path("dbt")
    target: str = "local"

    def execute(self, context: Any) -> dict[str, int]:
        from sluice.events.archive import archive_stream
        from sluice.events.load import load_stream as load_objects
        from sluice.events.warehouse import open_warehouse

        sf = stream_file(self.streams_dir, self.stream)
        s3 = s3_client(self.aws_conn_id)
        target = dbt_target(self.target)
        try:
            with open_warehouse(self.project_dir, self.profiles_dir, target, self.log.info) as wh:
                if self.archive:
                    done = archive_stream(sf, s3, wh, self.log.info)
                    return {"rows archived": done.rows, "objects": done.objects, "kept": len(done.kept)}
                loaded = load_objects(sf, s3, wh, self.log.info)
        except EventConfigError as exc:  # a schema version edited after it was loaded
            raise AirflowFailException(str(exc)) from None
        return {"objects": loaded.objects, "rows": loaded.good_rows, "quarantined": loaded.bad_rows}


def event_task(
    stream: str,
    streams_dir: Path,
    aws_conn_id: str | None,
    archive: bool,
    project_dir: Path,
    profiles_dir: Path,
    target: str,
    **kwargs: Any,
) -> EventStreamOperator:
    """An EventStreamOperator; other keyword arguments go to BaseOperator."""
    op = EventStreamOperator(**kwargs)
    op.stream, op.streams_dir, op.aws_conn_id, op.archive = stream, streams_dir, aws_conn_id, archive
    op.project_dir, op.profiles_dir, op.target = project_dir, profiles_dir, target
    return op
