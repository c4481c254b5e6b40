"""Airbyte sync tasks: start a sync (or attach to the running one), then wait on the triggerer.

The operator reads the server from $SLUICE_AIRBYTE_CONN_ID (an Airflow connection), else from the
AIRBYTE_* environment variables, else from the spec's Airflow connection (``airbyte_conn_id``):
the environment beats the spec, as everywhere (sluice.settings). With none of them (or
SLUICE_AIRBYTE_MODE=local) it runs the connection locally into DuckDB. The trigger never gets a
secret in its (stored) arguments: it reads the credentials again where it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink
from airflow.triggers.base import BaseTrigger, TriggerEvent

from sluice.airbyte.client import (
    CREATE_JOB_TIMEOUT_S,
    AirbyteApiError,
    AirbyteClient,
    AsyncAirbyteClient,
    RetryPolicy,
    ServerSettings,
)
from sluice.airbyte.config import config_dir as default_config_dir
from sluice.airbyte.config import load_config
from sluice.airbyte.local_sync import run_local, sync_mode
from sluice.airbyte.sync import (
    IN_PROGRESS,
    ConnectionRef,
    Job,
    acancel_job,
    cancel_job,
    ended,
    job_url,
    resolve_connection,
    start_or_attach,
    wait_for_job,
)
from sluice.airflow.lineage import sync_lineage
from sluice.errors import AirbyteError, AirbyteJobFailed, SluiceError
from sluice.runtime.dbt import DbtCall
from sluice.settings import settings

JOB_KEY = "airbyte_job_id"
URL_KEY = "airbyte_job_url"


def settings_from_connection(conn_id: str) -> ServerSettings:
    """An Airflow connection: host (URL), login/password = client id/secret (or user/password
    with extra ``{"auth": "basic"}``), extra ``token_url`` and ``workspace_id``."""
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises its own not-found type per backend
        raise AirbyteError(f"Airflow connection '{conn_id}' for Airbyte: {exc}") from None
    return _settings_of(conn, conn_id)


async def asettings_from_connection(conn_id: str) -> ServerSettings:
    try:
        conn = await BaseHook.aget_connection(conn_id)
    except Exception as exc:
        raise AirbyteError(f"Airflow connection '{conn_id}' for Airbyte: {exc}") from None
    return _settings_of(conn, conn_id)


def _settings_of(conn: Any, conn_id: str) -> ServerSettings:
    host = str(conn.host or "")
    if not urlsplit(host).scheme:
        host = f"{conn.schema or 'http'}://{host}"
    if conn.port and not urlsplit(host).port:
        host = f"{host.rstrip('/')}:{conn.port}"
    extra = conn.extra_dejson or {}
    basic = extra.get("auth") == "basic"
    return ServerSettings.build(
        host,
        client_id=None if basic else conn.login,
        client_secret=None if basic else conn.password,
        token_url=extra.get("token_url"),
        username=conn.login if basic else None,
        password=conn.password if basic else None,
        workspace_id=extra.get("workspace_id"),
        source=f"Airflow connection '{conn_id}'",
    )


def server_settings(conn_id: str | None) -> ServerSettings:
    """The server of a sync whose spec names ``conn_id``: $SLUICE_AIRBYTE_CONN_ID, else the
    AIRBYTE_* variables, else the spec's Airflow connection (the environment beats the spec)."""
    chosen = settings().airbyte_conn_id(conn_id)
    if chosen:
        return settings_from_connection(chosen)
    server = ServerSettings.from_env()
    if server is None:
        raise AirbyteError("no Airbyte server configured: set AIRBYTE_URL or SLUICE_AIRBYTE_CONN_ID")
    return server


class AirbyteJobLink(BaseOperatorLink):
    """'Airbyte job' on the task: the job's page in the Airbyte UI."""

    name = "Airbyte job"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(ti_key=ti_key, key=URL_KEY)
        return str(value) if value else ""


class AirbyteJobTrigger(BaseTrigger):
    """Polls one job on the triggerer until it ends or the deadline passes.

    Cancelled by Airflow (task killed, marked failed, deferral timed out), it cancels the job,
    unless the task is still deferred: that is the triggerer restarting or handing the trigger
    to another triggerer, and the job must go on.
    """

    def __init__(
        self,
        job_id: int,
        connection_id: str,
        url: str,
        poll_interval_s: float,
        deadline: float,
        airbyte_conn_id: str | None = None,
        retry_attempts: int = 5,
        retry_backoff_s: float = 2.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.job_id = job_id
        self.connection_id = connection_id
        self.url = url
        self.poll_interval_s = poll_interval_s
        self.deadline = deadline
        self.airbyte_conn_id = airbyte_conn_id
        self.retry = RetryPolicy(attempts=retry_attempts, backoff_s=retry_backoff_s)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "connection_id": self.connection_id,
                "url": self.url,
                "poll_interval_s": self.poll_interval_s,
                "deadline": self.deadline,
                "airbyte_conn_id": self.airbyte_conn_id,
                "retry_attempts": self.retry.attempts,
                "retry_backoff_s": self.retry.backoff_s,
            },
        )

    async def _settings(self) -> ServerSettings:
        if self.airbyte_conn_id:
            return await asettings_from_connection(self.airbyte_conn_id)
        server = ServerSettings.from_env()
        if server is None:
            raise AirbyteError("the triggerer has no AIRBYTE_URL: give it the workers' AIRBYTE_* variables")
        return server

    def _event(self, status: str, message: str) -> TriggerEvent:
        return TriggerEvent(  # type: ignore[no-untyped-call]
            {
                "status": status,
                "job_id": self.job_id,
                "connection_id": self.connection_id,
                "message": message,
                "url": self.url,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            client = AsyncAirbyteClient(await self._settings(), retry=self.retry)
        except AirbyteError as exc:
            yield self._event("error", str(exc))
            return
        try:
            last = ""
            while True:
                try:
                    job = Job.from_api(await client.request("GET", f"/jobs/{self.job_id}"))
                except AirbyteApiError as exc:
                    yield self._event("error", str(exc))
                    return
                if job.status != last:
                    self.log.info("Airbyte job %s: %s", job.id, job.status)
                    last = job.status
                if job.status not in IN_PROGRESS:
                    rows = f", {job.rows_synced} rows" if job.rows_synced is not None else ""
                    yield self._event(job.status, f"Airbyte job {job.id} {job.status}{rows}")
                    return
                if time.time() >= self.deadline:
                    await acancel_job(client, self.job_id)
                    yield self._event(
                        "timeout", f"Airbyte job {job.id} still {job.status} at the task's timeout"
                    )
                    return
                await asyncio.sleep(self.poll_interval_s)
        except asyncio.CancelledError:
            if await self._safe_to_cancel():
                self.log.info("task no longer waits: cancelling Airbyte job %s", self.job_id)
                await acancel_job(client, self.job_id)
            raise
        finally:
            await client.aclose()

    async def _safe_to_cancel(self) -> bool:
        ti = self.task_instance
        if ti is None:
            return True
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        try:
            states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
            )
            return bool(states[ti.run_id][ti.task_id] != "deferred")
        except Exception:
            return False  # unknown: leaving a sync to finish beats killing a healthy one


class AirbyteSyncOperator(BaseOperator):
    """Sync one Airbyte connection (by its resource name in airbyte_config/) and wait for it.

    Deferrable by default: after starting the job it frees its worker slot and the trigger
    polls every ``poll_interval`` seconds. The job id is kept in the task's state store, so a
    retried task follows the job its earlier try started. Killed or timed out, it cancels the
    job. Locally (no server configured) it runs the connection into DuckDB instead.
    """

    template_fields = ("connection",)
    #: the pipeline's dbt project and target: what names the raw tables in lineage
    lineage_call: DbtCall | None = None
    #: stream -> rows loaded (None: not told), once the sync succeeded
    _loaded: dict[str, int | None] | None = None
    operator_extra_links: tuple[BaseOperatorLink, ...] = (AirbyteJobLink(),)
    ui_color = "#a5b4fc"

    def __init__(
        self,
        *,
        connection: str,
        config_dir: str | Path | None = None,
        airbyte_conn_id: str | None = None,
        poll_interval: float = 15.0,
        timeout: timedelta | float = timedelta(hours=2),
        create_job_timeout: float = CREATE_JOB_TIMEOUT_S,
        deferrable: bool = True,
        retry_attempts: int = 5,
        retry_backoff: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.connection = connection
        self.config_dir = str(default_config_dir(config_dir))
        self.airbyte_conn_id = airbyte_conn_id
        self.poll_interval = poll_interval
        self.sync_timeout_s = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        self.create_job_timeout = create_job_timeout
        self.deferrable = deferrable
        self.retry_attempts = retry_attempts
        self.retry_backoff = retry_backoff
        self._client: AirbyteClient | None = None
        self._job_id: int | None = None
        self._conn_id: str | None = None

    def _log(self, line: str) -> None:
        self.log.info("%s", line)

    def execute(self, context: Any) -> Any:
        if sync_mode(self.airbyte_conn_id) == "local":
            self._log(f"Airbyte connection {self.connection}: local sync (no Airbyte server configured)")
            rows = run_local(load_config(self.config_dir), self.connection, self._log)
            self._loaded = dict(rows)
            return rows
        # the trigger gets the connection id resolved here: it must not read it in a blocking call
        self._conn_id = settings().airbyte_conn_id(self.airbyte_conn_id)
        server = server_settings(self._conn_id)
        retry = RetryPolicy(attempts=self.retry_attempts, backoff_s=self.retry_backoff)
        self._client = client = AirbyteClient(server, retry=retry)
        ref = resolve_connection(client, Path(self.config_dir), self.connection)
        store = context.get("task_state_store")
        previous = store.get(JOB_KEY) if store is not None else None
        job = start_or_attach(
            client,
            ref.id,
            self._log,
            previous_job_id=int(previous) if previous is not None else None,
            create_timeout_s=self.create_job_timeout,
        )
        self._job_id = job.id
        url = job_url(server.url, ref, job.id)
        if store is not None:
            store.set(JOB_KEY, job.id)
        context["ti"].xcom_push(key=URL_KEY, value=url)
        self._log(f"Airbyte job {job.id}: {url}")
        if not job.in_progress:
            ended(job, url)
            return job.id
        if not self.deferrable:
            try:
                wait_for_job(
                    client,
                    job,
                    url,
                    self._log,
                    poll_interval_s=self.poll_interval,
                    timeout_s=self.sync_timeout_s,
                )
            except SluiceError:
                raise  # the job ended badly, or cannot be followed: a retry attaches to it
            except BaseException:
                # Airflow's execution_timeout (or a signal) ended the wait: the sync goes with it
                with contextlib.suppress(AirbyteError):
                    cancel_job(client, job.id, self._log)
                raise
            return job.id
        self._defer(job, ref, url)
        return None  # not reached: defer() raises

    def _defer(self, job: Job, ref: ConnectionRef, url: str) -> None:
        trigger = AirbyteJobTrigger(
            job.id,
            ref.id,
            url,
            self.poll_interval,
            time.time() + self.sync_timeout_s,
            self._conn_id,
            self.retry_attempts,
            self.retry_backoff,
        )
        # Airflow's own deferral timeout is a backstop a little after the trigger's deadline
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=self.sync_timeout_s + max(60.0, 3 * self.poll_interval)),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> int:
        job_id, status, url = int(event["job_id"]), str(event["status"]), str(event.get("url", ""))
        if status == "succeeded":
            self._log(f"{event.get('message') or f'Airbyte job {job_id} succeeded'}: {url}")
            # Airbyte's public API counts a job's rows, not each stream's
            streams = load_config(self.config_dir).connection(self.connection).resource.streams
            self._loaded = {s.name: None for s in streams}
            return job_id
        if status == "timeout":
            raise AirbyteJobFailed(
                f"Airbyte job {job_id} did not finish within {self.sync_timeout_s:g} s; cancelled: {url}"
            )
        if status == "error":
            raise AirbyteError(str(event.get("message")))
        ended(Job(job_id, status, str(event.get("connection_id", ""))), url)
        raise AirbyteError(f"Airbyte job {job_id}: unexpected status {status}: {url}")

    def on_kill(self) -> None:
        if self._client is not None and self._job_id is not None:
            cancel_job(self._client, self._job_id, self._log)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The raw tables the sync loaded, with each one's rows where they are known."""
        if self._loaded is None:
            return sync_lineage(None, None, {})
        namespace = load_config(self.config_dir).connection(self.connection).resource.namespace
        return sync_lineage(self.lineage_call, namespace, self._loaded)


def airbyte_sync_task(
    task_id: str, connection: str, config_dir: Path, **operator_kwargs: Any
) -> BaseOperator:
    """The task that syncs Airbyte connection ``connection`` (a resource name under
    ``config_dir``/connections) before the first zone.

    ``operator_kwargs`` go to :class:`AirbyteSyncOperator` (``airbyte_conn_id``,
    ``poll_interval`` in seconds, ``timeout`` (timedelta or seconds), ``create_job_timeout``,
    ``deferrable``) and on to BaseOperator (``task_group``, ``retries``, ``pool``, ...).
    Whether the sync goes to a server or runs locally is decided at run time by the
    environment: SLUICE_AIRBYTE_MODE, else a server when AIRBYTE_URL or SLUICE_AIRBYTE_CONN_ID
    (or ``airbyte_conn_id``) is set, else local.
    """
    try:
        local = sync_mode(operator_kwargs.get("airbyte_conn_id")) == "local"
    except SluiceError:  # a bad SLUICE_AIRBYTE_MODE is the sync's own error, said when it runs
        local = False
    operator = LocalAirbyteSyncOperator if local else AirbyteSyncOperator
    return operator(task_id=task_id, connection=connection, config_dir=config_dir, **operator_kwargs)


class LocalAirbyteSyncOperator(AirbyteSyncOperator):
    """The sync where no Airbyte server is configured (drawn so when the DAG is parsed; the run
    decides again): the connector runs locally, and the task page shows no link to an Airbyte
    job that does not exist."""

    operator_extra_links = ()
