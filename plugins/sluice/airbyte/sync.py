"""Start an Airbyte sync (or attach to the one running) and follow its job; no Airflow here.

``POST /jobs`` is sent once per attempt, with a long timeout. A 409 ("a sync is already
running") or a client timeout is answered by looking for the connection's running job and
attaching to it, never by posting again: one task attempt never starts two syncs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.airbyte.client import (
    CREATE_JOB_TIMEOUT_S,
    AirbyteApiError,
    AirbyteClient,
    AirbyteTimeout,
    AsyncAirbyteClient,
)
from sluice.airbyte.state import find_connection_id, state_dir
from sluice.errors import AirbyteError, AirbyteJobFailed

#: statuses of a job that has not finished (the public API's JobStatusEnum)
IN_PROGRESS = ("running", "pending", "queued", "incomplete")
SUCCEEDED = "succeeded"
ENDED_BADLY = ("failed", "cancelled")

Log = Callable[[str], None]


@dataclass(frozen=True)
class Job:
    id: int
    status: str
    connection_id: str
    rows_synced: int | None = None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Job:
        return cls(int(body["jobId"]), str(body["status"]), str(body["connectionId"]), body.get("rowsSynced"))

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS


@dataclass(frozen=True)
class ConnectionRef:
    """A connection resolved to its remote id (and the workspace the UI link needs)."""

    name: str
    id: str
    workspace_id: str | None


def job_url(server_url: str, ref: ConnectionRef, job_id: int) -> str:
    """The job's page in the Airbyte UI."""
    workspace = ref.workspace_id or "-"
    return f"{server_url}/workspaces/{workspace}/connections/{ref.id}/timeline?jobId={job_id}&openLogs=true"


def resolve_connection(client: AirbyteClient, config_dir: Path, name: str) -> ConnectionRef:
    """The connection's id from the state file apply wrote, else by name from the API."""
    ws = client.settings.workspace_id
    recorded = find_connection_id(config_dir, name, ws)
    if recorded:
        return ConnectionRef(name, recorded, ws or _only_state_workspace(config_dir))
    params: dict[str, Any] = {"workspaceIds": ws} if ws else {}
    found = [c for c in client.paged("/connections", params) if c.get("name") == name]
    if len(found) == 1:
        return ConnectionRef(
            name, str(found[0]["connectionId"]), str(found[0].get("workspaceId") or ws or "")
        )
    if len(found) > 1:
        raise AirbyteError(
            f"Airbyte server {client.settings.url} has {len(found)} connections named '{name}'; "
            "set AIRBYTE_WORKSPACE_ID or rename them"
        )
    raise AirbyteError(
        f"no Airbyte connection '{name}': not in the state under {config_dir} and not on server "
        f"{client.settings.url}; run `sluice airbyte apply` or fix the connection name"
    )


def _only_state_workspace(config_dir: Path) -> str | None:
    files = sorted(state_dir(config_dir).glob("*.json"))
    return files[0].stem if len(files) == 1 else None


def get_job(client: AirbyteClient, job_id: int) -> Job:
    return Job.from_api(client.request("GET", f"/jobs/{job_id}"))


def find_running_job(client: AirbyteClient, connection_id: str) -> Job | None:
    """The connection's newest unfinished sync job, if any."""
    for status in IN_PROGRESS:
        page = client.request(
            "GET",
            "/jobs",
            params={
                "connectionId": connection_id,
                "status": status,
                "jobType": "sync",
                "orderBy": "createdAt|DESC",
                "limit": 1,
            },
        )
        data = page.get("data") if isinstance(page, dict) else None
        if data:
            return Job.from_api(data[0])
    return None


def start_or_attach(
    client: AirbyteClient,
    connection_id: str,
    log: Log,
    *,
    previous_job_id: int | None = None,
    create_timeout_s: float = CREATE_JOB_TIMEOUT_S,
    lookups: int = 3,
    lookup_delay_s: float = 5.0,
) -> Job:
    """The job to follow: an earlier try's job while it runs (or once it succeeded), else a new
    one, else (after a 409 or a timeout) the connection's running job."""
    if previous_job_id is not None:
        job = get_job(client, previous_job_id)
        if job.in_progress or job.status == SUCCEEDED:
            log(f"Airbyte job {job.id} started by an earlier try is {job.status}; following it")
            return job
        log(f"Airbyte job {job.id} of an earlier try ended {job.status}; starting a new sync")
    try:
        body = client.request(
            "POST",
            "/jobs",
            json={"connectionId": connection_id, "jobType": "sync"},
            timeout_s=create_timeout_s,
        )
        job = Job.from_api(body)
        log(f"Airbyte job {job.id} started ({job.status})")
        return job
    except AirbyteTimeout:
        why = f"POST /jobs gave no answer within {create_timeout_s:g} s"
        tries = lookups
    except AirbyteApiError as exc:
        if exc.status != 409:
            raise
        why, tries = "a sync of this connection is already running (409)", 1
    for attempt in range(tries):
        running = find_running_job(client, connection_id)
        if running is not None:
            log(f"{why}; attaching to Airbyte job {running.id} ({running.status})")
            return running
        if attempt + 1 < tries:
            time.sleep(lookup_delay_s)
    raise AirbyteError(
        f"Airbyte server {client.settings.url}: {why}, and no running job of connection {connection_id} "
        "was found; not posting again so as never to start two syncs; see the connection in the Airbyte UI"
    )


def ended(job: Job, url: str) -> None:
    """Raise when a finished job did not succeed."""
    if job.status in ENDED_BADLY:
        raise AirbyteJobFailed(f"Airbyte job {job.id} {job.status} (connection {job.connection_id}): {url}")


def cancel_job(client: AirbyteClient, job_id: int, log: Log) -> None:
    """Cancel a job; one that already ended (409) or vanished (404) is left as it is."""
    try:
        client.request("DELETE", f"/jobs/{job_id}")
        log(f"Airbyte job {job_id} cancelled")
    except AirbyteApiError as exc:
        if exc.status not in (404, 409):
            raise
        log(f"Airbyte job {job_id} was not cancelled: {exc}")


async def acancel_job(client: AsyncAirbyteClient, job_id: int) -> None:
    try:
        await client.request("DELETE", f"/jobs/{job_id}")
    except AirbyteApiError as exc:
        if exc.status not in (404, 409):
            raise


def wait_for_job(
    client: AirbyteClient,
    job: Job,
    url: str,
    log: Log,
    *,
    poll_interval_s: float,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Job:
    """Poll until the job ends (blocking: for runs that may not defer); cancel it on timeout."""
    deadline = time.monotonic() + timeout_s
    last = job.status
    while job.in_progress:
        if time.monotonic() >= deadline:
            cancel_job(client, job.id, log)
            raise AirbyteJobFailed(
                f"Airbyte job {job.id} still {job.status} after {timeout_s:g} s; cancelled: {url}"
            )
        sleep(poll_interval_s)
        job = get_job(client, job.id)
        if job.status != last:
            log(f"Airbyte job {job.id}: {job.status}")
            last = job.status
    ended(job, url)
    return job
