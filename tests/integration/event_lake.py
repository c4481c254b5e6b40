"""An event stream over a real S3 API (moto in server mode) and a real warehouse (a DuckDB file,
or a scratch PostgreSQL database), reached the way the load task reaches them: S3 through the
AWS SDK's own chain (AWS_ENDPOINT_URL), the warehouse through a dbt target's profile."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from sluice.events.archive import ArchiveResult, archive_stream
from sluice.events.config import StreamFile, load_streams
from sluice.events.ledger import raise_unless_same
from sluice.events.load import LoadResult, load_stream
from sluice.events.warehouse import open_warehouse
from tests.conftest import REPO

REGION = "eu-west-1"
STREAM = "payment_status"
RAW = "raw_events.payment_status"
QUARANTINE = "raw_events.payment_status_quarantine"
LEDGER = "raw_events._sluice_event_loads"
SCHEMA_FILE = REPO / "event_streams" / "schemas" / STREAM / "v1.json"


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def event(n: int, status: str = "captured", at: str = "2026-05-30T10:00:00Z", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{n}",
        "event_type": "payment.status_changed",
        "schema_version": 1,
        "occurred_at": at,
        "purchase_id": n,
        "status": status,
        **extra,
    }


def jsonl(*events: object) -> bytes:
    return "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events).encode()


def profiles(engine: str, where: str) -> str:
    if engine == "duckdb":
        return f"t:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n      path: {where}\n"
    return (
        "t:\n  target: local\n  outputs:\n    local:\n      type: postgres\n      host: 127.0.0.1\n"
        "      port: \"{{ env_var('EVENTS_TEST_PG_PORT', '5432') | as_number }}\"\n      user: postgres\n"
        f"      password: \"{{{{ env_var('EVENTS_TEST_PG_PASSWORD', '') }}}}\"\n      dbname: {where}\n"
        "      schema: public\n      threads: 1\n"
    )


@dataclass
class Lake:
    root: Path
    engine: str
    bucket: str

    @property
    def streams(self) -> Path:
        return self.root / "event_streams"

    @property
    def project(self) -> Path:
        return self.root / "dbt"

    def stream(self) -> StreamFile:
        return load_streams(self.streams).stream(STREAM)

    def put(self, key: str, body: bytes) -> str:
        return str(s3().put_object(Bucket=self.bucket, Key=f"{STREAM}/{key}", Body=body)["ETag"]).strip('"')

    def load(self) -> LoadResult:
        with open_warehouse(self.project, self.project, "local", print) as wh:
            return load_stream(self.stream(), s3(), wh, print)

    def archive(self, now: dt.datetime) -> ArchiveResult:
        with open_warehouse(self.project, self.project, "local", print) as wh:
            return archive_stream(self.stream(), s3(), wh, print, now=now)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with open_warehouse(self.project, self.project, "local", print) as wh, wh.transaction():
            return wh.execute(sql)

    def count(self, table: str) -> int:
        return int(self.query(f"select count(*) from {table}")[0][0])

    def check_ledger(self) -> None:
        with open_warehouse(self.project, self.project, "local", print) as wh, wh.transaction():
            raise_unless_same(wh, self.stream())

    def replace_schema(self, schema: dict[str, Any]) -> None:
        """Edit version 1 in place and record its new hash: what the file check cannot catch."""
        data = json.dumps(schema).encode()
        (self.streams / "schemas" / STREAM / "v1.json").write_bytes(data)
        path = self.streams / f"{STREAM}.yaml"
        text = path.read_text()
        old = next(line for line in text.splitlines() if "sha256: sha256:" in line)
        path.write_text(text.replace(old, f"    sha256: sha256:{hashlib.sha256(data).hexdigest()}"))


def make_lake(root: Path, engine: str, database: str, hot_days: int = 90) -> Iterator[Lake]:
    bucket = f"events-{uuid.uuid4().hex[:12]}"
    s3().create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    streams = root / "event_streams"
    (streams / "schemas" / STREAM).mkdir(parents=True)
    shutil.copy(SCHEMA_FILE, streams / "schemas" / STREAM / "v1.json")
    text = (REPO / "event_streams" / f"{STREAM}.yaml").read_text()
    text = text.replace("bucket: sluice-events-local", f"bucket: {bucket}")
    text = text.replace("hot_days: 90", f"hot_days: {hot_days}")
    (streams / f"{STREAM}.yaml").write_text(text)
    project = root / "dbt"
    project.mkdir()
    (project / "dbt_project.yml").write_text("name: t\nprofile: t\n")
    where = str(root / "warehouse.duckdb") if engine == "duckdb" else database
    (project / "profiles.yml").write_text(profiles(engine, where))
    yield Lake(root, engine, bucket)
