"""Sync jobs against the API double: start or attach, wait, fail clearly, cancel, defer."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from sluice.airbyte import local_connector
from sluice.airbyte.client import AirbyteClient, RetryPolicy, ServerSettings
from sluice.airbyte.config import load_config
from sluice.airbyte.local_connector import LocalSyncResult, StreamSelection
from sluice.airbyte.reconcile import Reconciler
from sluice.airbyte.state import load_state
from sluice.airbyte.sync import (
    ConnectionRef,
    find_running_job,
    get_job,
    job_url,
    resolve_connection,
    start_or_attach,
    wait_for_job,
)
from sluice.airflow.airbyte_operator import AirbyteJobTrigger, AirbyteSyncOperator, airbyte_sync_task
from sluice.errors import AirbyteError, AirbyteJobFailed, LocalSyncError
from tests.airbyte_double.server import AirbyteDouble, serve
from tests.conftest import REPO

FAST = RetryPolicy(attempts=3, backoff_s=0.01)


@pytest.fixture
def airbyte() -> Iterator[AirbyteDouble]:
    yield from serve()


@dataclass
class Applied:
    double: AirbyteDouble
    config_dir: Path
    connection_id: str
    lines: list[str]

    def client(self, **kw: Any) -> AirbyteClient:
        return AirbyteClient(ServerSettings(self.double.url), retry=kw.pop("retry", FAST), **kw)

    def log(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture
def applied(airbyte: AirbyteDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Applied:
    """The demo config applied to the double; the environment points at it."""
    import shutil

    cfg = tmp_path / "airbyte_config"
    shutil.copytree(REPO / "airbyte_config", cfg, ignore=shutil.ignore_patterns("state"))
    for var in (
        "AIRBYTE_CLIENT_ID",
        "AIRBYTE_CLIENT_SECRET",
        "AIRBYTE_USERNAME",
        "AIRBYTE_PASSWORD",
        "AIRBYTE_WORKSPACE_ID",
        "SLUICE_AIRBYTE_CONN_ID",
        "SLUICE_AIRBYTE_STATE_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AIRBYTE_URL", airbyte.url)
    monkeypatch.delenv("SLUICE_AIRBYTE_MODE", raising=False)
    with AirbyteClient(ServerSettings(airbyte.url)) as client:
        state = load_state(cfg, airbyte.workspace_id, airbyte.url)
        Reconciler(load_config(cfg), client, state).apply(lambda _: None, {"AIRBYTE_WAREHOUSE_PASSWORD": "x"})
    return Applied(airbyte, cfg, airbyte.by_name("connections", "payments_raw")["connectionId"], [])


def test_sync_success_walks_pending_queued_running(applied: Applied) -> None:
    with applied.client() as client:
        job = start_or_attach(client, applied.connection_id, applied.log)
        assert job.status == "pending"
        done = wait_for_job(client, job, "url", applied.log, poll_interval_s=0, timeout_s=10)
    assert done.status == "succeeded"
    assert applied.lines == [
        f"Airbyte job {job.id} started (pending)",
        f"Airbyte job {job.id}: queued",
        f"Airbyte job {job.id}: running",
        f"Airbyte job {job.id}: succeeded",
    ]


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_job_failed_or_cancelled_names_id_status_and_link(applied: Applied, status: str) -> None:
    applied.double.job_script = ["pending", "running", status]
    ref = ConnectionRef("payments_raw", applied.connection_id, applied.double.workspace_id)
    with applied.client() as client:
        job = start_or_attach(client, applied.connection_id, applied.log)
        url = job_url(applied.double.url, ref, job.id)
        with pytest.raises(AirbyteJobFailed) as exc:
            wait_for_job(client, job, url, applied.log, poll_interval_s=0, timeout_s=10)
    assert str(exc.value) == (
        f"Airbyte job {job.id} {status} (connection {applied.connection_id}): "
        f"{applied.double.url}/workspaces/"
        f"{applied.double.workspace_id}/connections/{applied.connection_id}/timeline?jobId={job.id}&openLogs=true"
    )


def test_409_attaches_to_the_running_job(applied: Applied) -> None:
    with applied.client() as client:
        first = start_or_attach(client, applied.connection_id, applied.log)
        second = start_or_attach(client, applied.connection_id, applied.log)
    assert second.id == first.id
    assert len(applied.double.jobs) == 1, "a second sync was started"
    assert applied.lines[-1] == (
        f"a sync of this connection is already running (409); attaching to Airbyte job {first.id} (pending)"
    )
    conflict = [r for r in applied.double.requests if r.method == "POST" and r.path.endswith("/jobs")]
    assert len(conflict) == 2, "the 409 came from the server, not from a guess"


def test_create_timeout_attaches_to_the_job_the_server_made_without_posting_again(applied: Applied) -> None:
    applied.double.create_delay_s = 1.5
    with applied.client() as client:
        job = start_or_attach(
            client, applied.connection_id, applied.log, create_timeout_s=0.3, lookup_delay_s=0.1
        )
    assert len(applied.double.jobs) == 1
    assert job.id == next(iter(applied.double.jobs))
    posts = [r for r in applied.double.requests if r.method == "POST" and r.path.endswith("/jobs")]
    assert len(posts) == 1, "POST /jobs was retried"
    assert applied.lines == [
        f"POST /jobs gave no answer within 0.3 s; attaching to Airbyte job {job.id} (pending)"
    ]
    lookups = [r.query for r in applied.double.requests if r.method == "GET" and r.path.endswith("/jobs")]
    assert lookups[0]["connectionId"] == [applied.connection_id] and lookups[0]["status"] == ["running"]


def test_create_timeout_with_no_job_on_the_server_fails_clearly(
    applied: Applied, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied.double.create_delay_s = 1.0
    # the server took the request but made no job (say, it dropped it): nothing to attach to
    original = applied.double._job

    def no_job(method: str, jid: int | None, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        status, answer = original(method, jid, query, body)
        if method == "POST":
            applied.double.jobs.clear()
        return status, answer

    monkeypatch.setattr(applied.double, "_job", no_job)
    with applied.client() as client, pytest.raises(AirbyteError) as exc:
        start_or_attach(client, applied.connection_id, applied.log, create_timeout_s=0.2, lookup_delay_s=0.05)
    assert str(exc.value) == (
        f"Airbyte server {applied.double.url}: POST /jobs gave no answer within 0.2 s, and no running job of "
        f"connection {applied.connection_id} was found; not posting again so as never to start two syncs; "
        "see the connection in the Airbyte UI"
    )


def test_server_5xx_on_get_is_retried_with_backoff(applied: Applied, monkeypatch: pytest.MonkeyPatch) -> None:
    import sluice.airbyte.client as client_module

    waits: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", waits.append)
    with applied.client(retry=RetryPolicy(attempts=4, backoff_s=1.0)) as client:
        job = start_or_attach(client, applied.connection_id, applied.log)
        applied.double.fail_next = 2
        assert get_job(client, job.id).status == "queued"
        assert waits == [1.0, 2.0]
        applied.double.fail_next = 10
        with pytest.raises(AirbyteError) as exc:
            get_job(client, job.id)
    assert waits[2:] == [1.0, 2.0, 4.0]
    assert str(exc.value) == (
        f"Airbyte server {applied.double.url}: GET /api/public/v1/jobs/{job.id} answered 503: try later "
        "(gave up after 4 tries)"
    )


def test_get_timeouts_are_retried_then_fail_clearly(applied: Applied) -> None:
    with applied.client(timeout_s=0.2) as client:
        job = start_or_attach(client, applied.connection_id, applied.log)
        applied.double.hang_s, applied.double.hang_next = 0.6, 1
        assert get_job(client, job.id).status in ("queued", "running"), "one slow answer is retried"
        applied.double.hang_next = 3
        with pytest.raises(AirbyteError) as exc:
            get_job(client, job.id)
    assert str(exc.value) == (
        f"Airbyte server {applied.double.url}: GET /api/public/v1/jobs/{job.id} gave no answer within 0.2 s "
        "(gave up after 3 tries)"
    )


def test_5xx_on_post_jobs_is_not_retried(applied: Applied) -> None:
    applied.double.fail_next = 1
    with (
        applied.client() as client,
        pytest.raises(AirbyteError, match="POST /api/public/v1/jobs answered 503"),
    ):
        start_or_attach(client, applied.connection_id, applied.log)
    posts = [r for r in applied.double.requests if r.method == "POST" and r.path.endswith("/jobs")]
    assert len(posts) == 1


def test_a_retried_task_follows_the_job_its_earlier_try_started(applied: Applied) -> None:
    with applied.client() as client:
        job = start_or_attach(client, applied.connection_id, applied.log)
        again = start_or_attach(client, applied.connection_id, applied.log, previous_job_id=job.id)
        assert again.id == job.id and len(applied.double.jobs) == 1
        applied.double.jobs[job.id].script = ["failed"]
        fresh = start_or_attach(client, applied.connection_id, applied.log, previous_job_id=job.id)
    assert fresh.id != job.id, "a failed earlier job is followed by a new sync"
    assert applied.lines[-2] == f"Airbyte job {job.id} of an earlier try ended failed; starting a new sync"


def test_timeout_cancels_the_job(applied: Applied) -> None:
    applied.double.job_script = ["running"]
    with applied.client() as client:
        job = start_or_attach(client, applied.connection_id, applied.log)
        with pytest.raises(AirbyteJobFailed, match=r"still running after 0\.2 s; cancelled"):
            wait_for_job(client, job, "url", applied.log, poll_interval_s=0.05, timeout_s=0.2)
    assert applied.double.jobs[job.id].status == "cancelled"


def test_connection_resolved_from_state_then_api_else_clear_error(applied: Applied, tmp_path: Path) -> None:
    with applied.client() as client:
        ref = resolve_connection(client, applied.config_dir, "payments_raw")
        assert (ref.id, ref.workspace_id) == (applied.connection_id, applied.double.workspace_id)
        assert not [
            r for r in applied.double.requests if r.path.endswith("/connections") and r.method == "GET"
        ][3:]
        empty = tmp_path / "no_state"
        by_api = resolve_connection(client, empty, "payments_raw")
        assert by_api.id == applied.connection_id
        with pytest.raises(AirbyteError) as exc:
            resolve_connection(client, empty, "payments_rawx")
    assert str(exc.value) == (
        f"no Airbyte connection 'payments_rawx': not in the state under {empty} and not on server "
        f"{applied.double.url}; run `sluice airbyte apply` or fix the connection name"
    )


# ---- the trigger, on a real event loop against the double ---------------------------------


async def _events(trigger: AirbyteJobTrigger) -> list[dict[str, Any]]:
    return [e.payload async for e in trigger.run()]


def _trigger(applied: Applied, job_id: int, deadline: float = 1e12) -> AirbyteJobTrigger:
    return AirbyteJobTrigger(job_id, applied.connection_id, "url", 0.01, deadline, None, 3, 0.01)


def test_trigger_polls_without_blocking_until_the_job_ends(applied: Applied) -> None:
    with applied.client() as client:
        job = start_or_attach(client, applied.connection_id, applied.log)

    async def both() -> tuple[list[dict[str, Any]], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        other = asyncio.ensure_future(ticker())
        events = await _events(_trigger(applied, job.id))
        other.cancel()
        return events, ticks

    events, ticks = asyncio.run(both())
    assert events == [
        {
            "status": "succeeded",
            "job_id": job.id,
            "connection_id": applied.connection_id,
            "message": f"Airbyte job {job.id} succeeded, 3000 rows",
            "url": "url",
        }
    ]
    assert applied.double.jobs[job.id].polls == 4
    assert ticks > 4, "the event loop went on running other work while the trigger waited"
    name, kwargs = _trigger(applied, job.id).serialize()
    assert name == "sluice.airflow.airbyte_operator.AirbyteJobTrigger"
    assert "secret" not in json.dumps(kwargs).lower() and "password" not in json.dumps(kwargs).lower()


def test_a_sync_deferred_before_the_operator_moved_still_resumes(applied: Applied) -> None:
    """The triggerer rebuilds a stored trigger from its class path: the old one still works."""
    _, kwargs = _trigger(applied, 1).serialize()
    old = importlib.import_module("sluice.airflow.airbyte").AirbyteJobTrigger(**kwargs)
    assert old.serialize() == _trigger(applied, 1).serialize()


def test_trigger_reports_failure_and_timeout(applied: Applied) -> None:
    applied.double.job_script = ["running", "failed"]
    with applied.client() as client:
        job = start_or_attach(client, applied.connection_id, applied.log)
    assert asyncio.run(_events(_trigger(applied, job.id)))[0]["status"] == "failed"
    applied.double.job_script = ["running"]
    with applied.client() as client:
        job = start_or_attach(client, applied.connection_id, applied.log)
    [event] = asyncio.run(_events(_trigger(applied, job.id, deadline=time.time() - 1)))
    assert event["status"] == "timeout"
    assert applied.double.jobs[job.id].status == "cancelled"


def test_trigger_cancelled_by_airflow_cancels_the_job(applied: Applied) -> None:
    applied.double.job_script = ["running"]
    with applied.client() as client:
        job = start_or_attach(client, applied.connection_id, applied.log)

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(_events(_trigger(applied, job.id)))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert applied.double.jobs[job.id].status == "cancelled"


# ---- the operator -------------------------------------------------------------------------


class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


class FakeStore(dict[str, Any]):
    def set(self, key: str, value: Any) -> None:
        self[key] = value


def _context() -> dict[str, Any]:
    return {"ti": FakeTI(), "task_state_store": FakeStore()}


def test_operator_starts_the_sync_and_defers_to_the_trigger(applied: Applied) -> None:
    op = airbyte_sync_task(
        "sync_payments_raw", "payments_raw", applied.config_dir, poll_interval=3, timeout=600
    )
    assert isinstance(op, AirbyteSyncOperator)
    context = _context()
    with pytest.raises(TaskDeferred) as exc:
        op.execute(context)
    trigger = exc.value.trigger
    assert isinstance(trigger, AirbyteJobTrigger)
    [job_id] = applied.double.jobs
    assert (trigger.job_id, trigger.poll_interval_s, exc.value.method_name) == (job_id, 3, "execute_complete")
    assert context["task_state_store"] == {"airbyte_job_id": job_id}
    assert context["ti"].xcom["airbyte_job_url"].endswith(f"timeline?jobId={job_id}&openLogs=true")
    # the next try of the same task instance attaches instead of starting a second sync
    op2 = airbyte_sync_task("sync_payments_raw", "payments_raw", applied.config_dir)
    with pytest.raises(TaskDeferred):
        op2.execute(context)
    assert len(applied.double.jobs) == 1
    assert op.execute_complete(context, {"status": "succeeded", "job_id": job_id, "url": "u"}) == job_id
    with pytest.raises(AirbyteJobFailed, match=f"Airbyte job {job_id} failed"):
        op.execute_complete(context, {"status": "failed", "job_id": job_id, "url": "u"})


@pytest.mark.parametrize("from_env", ["SLUICE_AIRBYTE_CONN_ID", "AIRBYTE_URL"])
def test_the_environments_server_beats_the_specs_connection(
    applied: Applied, monkeypatch: pytest.MonkeyPatch, from_env: str
) -> None:
    """As for dbt's target: the spec's ``ingest.airbyte_conn_id`` (here a connection this
    deployment does not have) yields to a server named in the environment, by connection or URL."""
    if from_env == "SLUICE_AIRBYTE_CONN_ID":
        monkeypatch.setenv(
            "AIRFLOW_CONN_AIRBYTE_ENV", json.dumps({"conn_type": "http", "host": applied.double.url})
        )
        monkeypatch.setenv("SLUICE_AIRBYTE_CONN_ID", "airbyte_env")
    op = airbyte_sync_task("t", "payments_raw", applied.config_dir, airbyte_conn_id="airbyte_spec")
    with pytest.raises(TaskDeferred) as exc:
        op.execute(_context())
    trigger = exc.value.trigger
    assert isinstance(trigger, AirbyteJobTrigger)
    assert trigger.airbyte_conn_id == ("airbyte_env" if from_env == "SLUICE_AIRBYTE_CONN_ID" else None)
    assert len(applied.double.jobs) == 1, "the sync started on the environment's server"


def test_operator_killed_cancels_the_job(applied: Applied) -> None:
    op = airbyte_sync_task("t", "payments_raw", applied.config_dir, deferrable=False, poll_interval=0.05)
    applied.double.job_script = ["running"]
    import threading

    def run() -> None:
        with pytest.raises(AirbyteJobFailed):
            op.execute(_context())

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.time() + 5
    # killed while it waits: once it polls its job
    while not any(j.polls for j in applied.double.jobs.values()) and time.time() < deadline:
        time.sleep(0.02)
    op.on_kill()
    [job] = applied.double.jobs.values()
    assert job.status == "cancelled"
    worker.join(5)
    assert not worker.is_alive(), "the waiting task ended once its job was cancelled"


def test_operator_unknown_connection_fails_clearly(applied: Applied) -> None:
    op = airbyte_sync_task("t", "nope", applied.config_dir)
    with pytest.raises(AirbyteError, match="no Airbyte connection 'nope'"):
        op.execute(_context())
    assert applied.double.jobs == {}


# ---- local mode (the runner replaced: sluice.airbyte.local_connector's run_local_sync is tested by
# its own tests; this only checks what the operator hands it and what it logs) ---------------------


def test_local_mode_calls_the_local_runner_with_the_connection(
    applied: Applied, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[Any, ...]] = []

    def run_local_sync(
        connection: str,
        source_config: Mapping[str, Any],
        streams: Sequence[StreamSelection],
        duckdb_path: Path,
        schema: str,
        state_dir: Path,
        log: Callable[[str], None],
    ) -> LocalSyncResult:
        calls.append((connection, dict(source_config), list(streams), duckdb_path, schema, state_dir))
        return LocalSyncResult(connection, {s.name: 10 * (i + 1) for i, s in enumerate(streams)}, 0.1)

    monkeypatch.setattr(local_connector, "run_local_sync", run_local_sync)
    monkeypatch.setenv("SLUICE_AIRBYTE_MODE", "local")
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    op = airbyte_sync_task("t", "payments_raw", applied.config_dir)
    lines: list[str] = []
    monkeypatch.setattr(op, "_log", lines.append)
    assert op.execute(_context()) == {"users": 10, "products": 20, "purchases": 30}
    [(name, config, streams, path, schema, state)] = calls
    assert (name, config, path, schema) == (
        "payments_raw",
        {"count": 1000, "seed": 42, "records_per_slice": 500, "parallelism": 1},
        tmp_path / "w.duckdb",
        "raw",
    )
    assert state == tmp_path / "airbyte_state"
    assert streams[0] == StreamSelection("users", "incremental", "append_dedup", ("updated_at",), (("id",),))
    assert streams[1] == StreamSelection("products", "full_refresh", "overwrite")
    assert lines == ["Airbyte connection payments_raw: local sync (no Airbyte server configured)"]
    assert applied.double.jobs == {}, "local mode never calls the server"


def test_a_local_sync_without_a_duckdb_file_is_one_line_naming_the_variable(
    applied: Applied, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No demo default (.local/payments.duckdb): the deployment names the file it syncs into."""
    monkeypatch.setenv("SLUICE_AIRBYTE_MODE", "local")
    monkeypatch.delenv("SLUICE_DUCKDB_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    op = airbyte_sync_task("t", "payments_raw", applied.config_dir)
    with pytest.raises(LocalSyncError) as caught:
        op.execute(_context())
    assert str(caught.value) == (
        "SLUICE_DUCKDB_PATH is not set: a local Airbyte sync needs the DuckDB file to write to"
    )
    assert not (tmp_path / ".local").exists()


def test_mode_is_local_without_a_server_and_server_with_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from sluice.airbyte.local_sync import sync_mode

    assert sync_mode(None, {}) == "local"
    assert sync_mode(None, {"AIRBYTE_URL": "http://a"}) == "server"
    assert sync_mode("airbyte_default", {}) == "server"
    assert sync_mode(None, {"AIRBYTE_URL": "http://a", "SLUICE_AIRBYTE_MODE": "local"}) == "local"
    with pytest.raises(AirbyteError, match="SLUICE_AIRBYTE_MODE='cloud': use server or local"):
        sync_mode(None, {"SLUICE_AIRBYTE_MODE": "cloud"})


def test_find_running_job_filters_by_connection_and_status(applied: Applied) -> None:
    with applied.client() as client:
        assert find_running_job(client, applied.connection_id) is None
        job = start_or_attach(client, applied.connection_id, applied.log)
        assert find_running_job(client, "other-connection") is None
        found = find_running_job(client, applied.connection_id)
    assert found is not None and found.id == job.id


def test_server_from_an_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from sluice.airbyte.client import BasicAuth, ClientCredentials
    from sluice.airflow.airbyte_operator import server_settings

    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRBYTE_PROD",
        json.dumps(
            {
                "conn_type": "http",
                "host": "https://airbyte.example.internal/api/public/v1",
                "login": "client-id",
                "password": "client-secret-value",
                "extra": {"token_url": "https://airbyte.example.internal/api/v1/applications/token"},
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRBYTE_BASIC",
        json.dumps(
            {
                "conn_type": "http",
                "host": "airbyte",
                "port": 8000,
                "login": "u",
                "password": "basic-password",
                "extra": {"auth": "basic", "workspace_id": "ws"},
            }
        ),
    )
    prod = server_settings("airbyte_prod")
    assert prod.url == "https://airbyte.example.internal"
    assert prod.auth == ClientCredentials(
        "client-id", "client-secret-value", "https://airbyte.example.internal/api/v1/applications/token"
    )
    assert "client-secret-value" not in repr(prod)
    with pytest.raises(AirbyteError, match="Airflow connection 'missing' for Airbyte"):
        server_settings("missing")
    monkeypatch.setenv("SLUICE_AIRBYTE_CONN_ID", "airbyte_basic")
    for spec_conn_id in (None, "missing"):  # the environment beats the spec
        basic = server_settings(spec_conn_id)
        assert (basic.url, basic.auth, basic.workspace_id) == (
            "http://airbyte:8000",
            BasicAuth("u", "basic-password"),
            "ws",
        )


def test_server_from_environment_variables() -> None:
    from sluice.airbyte.client import ClientCredentials

    assert ServerSettings.from_env({}) is None
    s = ServerSettings.from_env(
        {"AIRBYTE_URL": "http://h:8000/", "AIRBYTE_CLIENT_ID": "i", "AIRBYTE_CLIENT_SECRET": "s"}
    )
    assert s is not None and s.api_url == "http://h:8000/api/public/v1"
    assert s.auth == ClientCredentials("i", "s", "http://h:8000/api/v1/applications/token")
    with pytest.raises(AirbyteError, match="need both a client id and a secret"):
        ServerSettings.from_env({"AIRBYTE_URL": "http://h", "AIRBYTE_CLIENT_ID": "i"})
    with pytest.raises(AirbyteError, match="is not an http"):
        ServerSettings.from_env({"AIRBYTE_URL": "airbyte"})


def test_blocking_wait_ended_by_airflow_timeout_cancels_the_job(
    applied: Applied, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowTaskTimeout

    import sluice.airflow.airbyte_operator as operator_module

    applied.double.job_script = ["running"]

    def timed_out(*args: Any, **kwargs: Any) -> None:
        raise AirflowTaskTimeout("execution_timeout")

    monkeypatch.setattr(operator_module, "wait_for_job", timed_out)
    op = airbyte_sync_task("t", "payments_raw", applied.config_dir, deferrable=False)
    with pytest.raises(AirflowTaskTimeout):
        op.execute(_context())
    [job] = applied.double.jobs.values()
    assert job.status == "cancelled"


def test_trigger_signs_in_through_an_airflow_connection(
    applied: Applied, monkeypatch: pytest.MonkeyPatch
) -> None:
    with applied.client() as client:
        job = start_or_attach(client, applied.connection_id, applied.log)
    applied.double.credentials = ("trigger-client", "trigger-secret-value")
    monkeypatch.delenv("AIRBYTE_URL")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRBYTE_DOUBLE",
        json.dumps(
            {
                "conn_type": "http",
                "host": applied.double.url,
                "login": "trigger-client",
                "password": "trigger-secret-value",
            }
        ),
    )
    trigger = AirbyteJobTrigger(job.id, applied.connection_id, "url", 0.01, 1e12, "airbyte_double", 3, 0.01)
    [event] = asyncio.run(_events(trigger))
    assert event["status"] == "succeeded"
    tokens = [r for r in applied.double.requests if r.path == "/api/v1/applications/token"]
    assert len(tokens) == 1, "one token for the whole wait"
    assert "trigger-secret-value" not in json.dumps(trigger.serialize())
