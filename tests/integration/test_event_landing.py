"""Files landing start a run, through the real triggerer: a local Airflow (`make up`'s roles) with a
pipeline whose event stream has a landing queue; S3 (moto in server mode) notifies an SQS queue
when an object is put, the AssetWatcher's trigger receives it, and the asset-triggered run loads
the object. The same notification delivered again starts a run that loads nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from deploy.local_airflow import LocalAirflow, free_port

from tests.integration.conftest import Sandbox, make_sandbox, query, scratch_postgres
from tests.integration.event_lake import event, jsonl
from tests.integration.moto_server import moto_server

pytestmark = pytest.mark.integration
REGION = "us-east-1"
KEYS = {"aws_access_key_id": "landing", "aws_secret_access_key": "landing"}
# no cron: every run is one the files started
PIPELINE = """pipeline: payments_landing
dbt:
  project_dir: ../../dbt
  select: [path:models/silver/payment_statuses.sql]
ingest:
  event_streams: [payment_status]
  landing_queues:
    payment_status: {queue}
zones:
  - name: silver
    select: [path:models/silver]
"""


def _runs(airflow: LocalAirflow, dag_id: str) -> list[dict[str, Any]]:
    with airflow.api() as api:
        return list(api.get(f"/dags/{dag_id}/dagRuns").json()["dag_runs"])


def _wait_runs(airflow: LocalAirflow, dag_id: str, count: int, seconds: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = _runs(airflow, dag_id)
        if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(1)
    raise AssertionError(f"{dag_id}: wanted {count} finished runs, have {_runs(airflow, dag_id)}")


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalAirflow, Sandbox, Any, Any]]:
    with moto_server() as url:
        aws = {"region_name": REGION, "endpoint_url": url, **KEYS}
        s3, sqs = boto3.client("s3", **aws), boto3.client("sqs", **aws)
        queue_url = sqs.create_queue(QueueName="payment-status-landing")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        box = make_sandbox(tmp_path_factory.mktemp("landing"), migrate=False)
        bucket = "sluice-events-local"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "payment_status/"}]}},
                    }
                ]
            },
        )
        while True:  # moto announces the configuration with a test event: not a file landing
            found = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            if not found.get("Messages"):
                break
            for message in found["Messages"]:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        (box.dags / "pipelines" / "payments_daily.yml").unlink()
        (box.dags / "pipelines" / "payments_landing.yml").write_text(PIPELINE.format(queue=queue_url))
        dbt = [str(Path(sys.executable).parent / "dbt"), "parse", "--quiet", "--project-dir", "."]
        parsed = subprocess.run(
            [*dbt, "--profiles-dir", ".", "--target", "local"],
            cwd=box.dbt,
            env=box.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert parsed.returncode == 0, parsed.stdout + parsed.stderr
        env = {
            "SLUICE_DUCKDB_PATH": box.env["SLUICE_DUCKDB_PATH"],
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": KEYS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": KEYS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": REGION,
        }
        with scratch_postgres("sluice_landing") as database:
            airflow = LocalAirflow(
                home=box.root / "airflow",
                port=free_port(),
                database=database,
                dags_folder=box.dags,
                extra_env=env,
            )
            try:
                airflow.up()
                airflow.unpause("payments_landing")
                yield airflow, box, s3, sqs
            finally:
                airflow.down()


def test_a_file_landing_starts_a_run_that_loads_it(landing: tuple[LocalAirflow, Sandbox, Any, Any]) -> None:
    airflow, box, s3, _ = landing
    now = datetime.now(UTC).isoformat()  # inside the hot window: the run's archival keeps them
    body = jsonl(event(1, at=now), event(2, at=now))
    s3.put_object(Bucket="sluice-events-local", Key="payment_status/a.jsonl", Body=body)
    (run,) = _wait_runs(airflow, "payments_landing", 1)
    assert (run["run_type"], run["state"]) == ("asset_triggered", "success"), run
    assert query(box.duckdb, "select count(*) from raw_events.payment_status") == [(2,)]
    assert query(box.duckdb, "select count(*) from silver.payment_statuses") == [(2,)]


def test_the_same_notification_delivered_again_loads_nothing_twice(
    landing: tuple[LocalAirflow, Sandbox, Any, Any],
) -> None:
    airflow, box, _, sqs = landing
    queue_url = sqs.get_queue_url(QueueName="payment-status-landing")["QueueUrl"]
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "sluice-events-local"}, "object": {"key": "payment_status/a.jsonl"}},
    }
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"Records": [record]}))
    runs = _wait_runs(airflow, "payments_landing", 2)
    assert {(r["run_type"], r["state"]) for r in runs} == {("asset_triggered", "success")}
    assert query(box.duckdb, "select count(*) from raw_events.payment_status") == [(2,)]
    ledger = "select count(*), sum(good_rows), sum(archived_rows) from raw_events._sluice_event_loads"
    assert query(box.duckdb, ledger) == [(1, 2, 0)]
