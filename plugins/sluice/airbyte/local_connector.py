"""Run a real Airbyte source connector locally, without an Airbyte server: the embedded default's
ingestion. The connector (``airbyte-source-faker``) lives in a virtualenv of its own, because
neither it nor PyAirbyte can be installed beside Airflow 3.3; it is run as a subprocess speaking
the Airbyte protocol (spec, check, discover, read) and its records are streamed into typed
DuckDB tables of one schema (``raw.users``...) by :class:`~sluice.airbyte.duckdb_writer.RawWriter`.

Incremental streams keep their state between syncs: it is committed in the DuckDB file in the
same transaction as the rows it covers (``<schema>._sluice_airbyte_state``), and mirrored after
each commit to ``<state_dir>/<connection>.json``. The committed copy is the one handed back to
the connector, so a crash between the two never skips rows nor repeats any the source does not
re-send from that state itself. (faker 7.2.1 checkpoints with the state of the slice before, and
re-sends every record while ``always_updated`` is on: append_dedup is the mode for it.)

Writes hold the DuckDB file's lock (:func:`sluice.runtime.file_locks.duckdb_lock_path`), the
same one dbt tasks take, so ingestion and dbt never write the file at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from sluice.airbyte import protocol as proto
from sluice.airbyte.duckdb_writer import RawWriter, stored_state
from sluice.errors import LocalSyncError
from sluice.runtime.file_locks import duckdb_lock_path, exclusive
from sluice.settings import settings

CONNECTOR = "source-faker"
COMMAND_TIMEOUT_S = 300
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FORWARDED_LEVELS = ("WARN", "WARNING", "ERROR", "FATAL")


#: the Airbyte protocol's two halves of a sync mode
SourceMode = Literal["full_refresh", "incremental"]
DestinationMode = Literal["overwrite", "append", "append_dedup"]


@dataclass(frozen=True)
class StreamSelection:
    name: str
    sync_mode: SourceMode
    destination_sync_mode: DestinationMode
    cursor_field: tuple[str, ...] = ()
    primary_key: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class LocalSyncResult:
    connection: str
    rows: dict[str, int]  # stream name -> records written this sync
    duration_s: float


def connector_command() -> list[str]:
    """How to start the connector: ``$SLUICE_FAKER_PYTHON -m source_faker.run``."""
    python = settings().faker_python
    if python is None:
        raise LocalSyncError(
            "SLUICE_FAKER_PYTHON is not set: set it to the Python of a virtualenv that has "
            "airbyte-source-faker installed (`make faker-venv` makes .venv-faker/bin/python)"
        )
    if not python.exists():
        raise LocalSyncError(
            f"the {CONNECTOR} connector's virtualenv is missing ({python} does not exist): "
            "run `make faker-venv`, or set SLUICE_FAKER_PYTHON to the Python of a virtualenv "
            "that has airbyte-source-faker installed"
        )
    return [str(python), "-m", "source_faker.run"]


def state_file(state_dir: Path, connection: str) -> Path:
    return state_dir / f"{connection}.json"


def run_local_sync(
    connection: str,
    source_config: Mapping[str, Any],
    streams: Sequence[StreamSelection],
    duckdb_path: Path,
    schema: str,
    state_dir: Path,
    log: Callable[[str], None],
) -> LocalSyncResult:
    """Sync ``streams`` of the source into ``schema`` of the DuckDB file; raise LocalSyncError
    (one line naming the connection and the connector's message) when the sync cannot be done.
    Rows committed before a failure stay, with the state that matches them."""
    started = time.monotonic()
    if not _NAME.match(connection):
        raise LocalSyncError(
            f"airbyte connection {connection!r}: the name must be letters, digits, '_', '.', '-'"
        )
    if not streams:
        raise LocalSyncError(f"airbyte connection '{connection}': no streams selected")
    sync = _Sync(connection, source_config, duckdb_path, schema, state_dir, log)
    with sync.only_one():
        discovered = sync.inspect()
        log(f"{CONNECTOR}: connector checks passed in {time.monotonic() - started:.1f} s")
        configured = sync.configure(discovered, streams)
        read_started = time.monotonic()
        rows = sync.read(configured)
        log(f"{CONNECTOR}: read and written in {time.monotonic() - read_started:.1f} s")
    for stream in configured:
        log(f"{stream.name}: {rows[stream.name]} rows")
    return LocalSyncResult(connection, rows, round(time.monotonic() - started, 3))


class _Sync:
    """One sync of one connection; the methods are its steps, in order."""

    def __init__(
        self,
        connection: str,
        source_config: Mapping[str, Any],
        duckdb_path: Path,
        schema: str,
        state_dir: Path,
        log: Callable[[str], None],
    ) -> None:
        self.connection = connection
        self.config = dict(source_config)
        self.duckdb_path = duckdb_path
        self.schema = schema
        self.state_dir = state_dir
        self.log = log
        self.secrets: set[str] = set()
        self.command = connector_command()
        self.work = Path(tempfile.mkdtemp(prefix="sluice-airbyte-"))  # 0700: the config holds secrets

    def fail(self, message: str) -> LocalSyncError:
        one_line = " ".join(proto.mask(message, self.secrets).split())
        return LocalSyncError(f"airbyte connection '{self.connection}': {CONNECTOR} {one_line}")

    @contextlib.contextmanager
    def only_one(self) -> Iterator[None]:
        """One sync per connection at a time: a second one waits for the first (two runs
        triggered seconds apart must both succeed; it then reads on from the first's state), and
        the connector's working files are removed whatever happens."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        busy = f"a sync of airbyte connection '{self.connection}' is already running; this one waits for it"
        try:
            with exclusive(state_file(self.state_dir, self.connection).with_suffix(".lock"), self.log, busy):
                yield
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    # --- spec, check, discover ---------------------------------------------------------------

    def _file(self, name: str, doc: Any) -> Path:
        path = self.work / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle)
        return path

    def inspect(self) -> list[dict[str, Any]]:
        """check, plus spec and discover unless the same connector already answered them for the
        same configuration (as an Airbyte server keeps a connection's catalog between syncs):
        each run pays the connector's start-up. The discovered streams. The spec tells which
        config values are secrets, to mask them."""
        config = str(self._file("config.json", self.config))
        known = self._known_discovery()
        asked = ["check"] if known else ["spec", "check", "discover"]
        procs = {
            name: self._start([name] if name == "spec" else [name, "--config", config]) for name in asked
        }
        outputs = {name: self._finish(name, proc) for name, proc in procs.items()}
        # judged in protocol order: a bad config is check's failure, though discover fails on it too
        spec = known["spec"] if known else proto.single_message(self._lines(outputs, "spec"), "SPEC")
        if spec is None:
            raise self.fail("spec gave no SPEC message")
        self.secrets = proto.secret_values(spec.get("spec") or {}, self.config)
        status = proto.single_message(self._lines(outputs, "check"), "CONNECTION_STATUS")
        if status is None:
            raise self.fail("check gave no CONNECTION_STATUS message")
        catalog = (
            known["catalog"] if known else proto.single_message(self._lines(outputs, "discover"), "CATALOG")
        )
        if catalog is None:
            raise self.fail("discover gave no CATALOG message")
        if not known:
            self._discovery_file().write_text(
                json.dumps({"key": self._discovery_key(), "spec": spec, "catalog": catalog})
            )
        streams = (catalog.get("catalog") or {}).get("streams") or []
        return [s for s in streams if isinstance(s, dict)]

    def _discovery_file(self) -> Path:
        return self.state_dir / f"{self.connection}.discovered.json"

    def _discovery_key(self) -> str:
        """Changes with the configuration and with any install into the connector's virtualenv
        (which touches its site-packages folder); holds no configuration value."""
        packages = sorted(Path(self.command[0]).parent.parent.glob("lib/python*/site-packages"))
        stamp = [str(p.stat().st_mtime_ns) for p in packages]
        text = json.dumps([self.config, self.command, stamp], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _known_discovery(self) -> dict[str, Any] | None:
        try:
            known = json.loads(self._discovery_file().read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(known, dict) or known.get("key") != self._discovery_key():
            return None
        self.log(f"{CONNECTOR}: spec and catalog as last discovered (connector and configuration unchanged)")
        return known

    def _start(self, args: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*self.command, *args],
            cwd=self.work,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def _finish(self, name: str, proc: subprocess.Popen[str]) -> tuple[list[str], str | None]:
        """The command's stdout lines, and what went wrong if anything did."""
        try:
            out, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return [], f"{name} did not finish within {COMMAND_TIMEOUT_S} s"
        lines = out.splitlines()
        status = proto.single_message(lines, "CONNECTION_STATUS")
        if status is not None and (status.get("connectionStatus") or {}).get("status") != "SUCCEEDED":
            reason = (status.get("connectionStatus") or {}).get("message") or "no reason given"
            return lines, f"{name} failed: {reason}"
        problem = _reported_error(lines)
        if problem:
            return lines, f"{name} failed: {problem}"
        if proc.returncode != 0:
            return lines, f"{name} exited with code {proc.returncode}: {_tail(err.splitlines())}"
        return lines, None

    def _lines(self, outputs: Mapping[str, tuple[list[str], str | None]], name: str) -> list[str]:
        lines, problem = outputs[name]
        if problem:
            raise self.fail(problem)
        return lines

    def configure(
        self, discovered: list[dict[str, Any]], streams: Sequence[StreamSelection]
    ) -> list[proto.ConfiguredStream]:
        configured = []
        for s in streams:
            try:
                configured.append(
                    proto.configure(
                        discovered,
                        s.name,
                        s.sync_mode,
                        s.destination_sync_mode,
                        s.cursor_field,
                        s.primary_key,
                    )
                )
            except proto.CatalogProblem as exc:
                raise LocalSyncError(f"airbyte connection '{self.connection}': {exc}") from None
        names = [s.name for s in configured]
        if len(set(names)) != len(names):
            raise LocalSyncError(f"airbyte connection '{self.connection}': a stream is selected twice")
        return configured

    # --- read ----------------------------------------------------------------------------------

    def _committed_state(self, configured: Sequence[proto.ConfiguredStream]) -> list[Mapping[str, Any]]:
        if not self.duckdb_path.exists():
            return []
        import duckdb

        with (
            exclusive(duckdb_lock_path(self.duckdb_path), self.log),
            duckdb.connect(str(self.duckdb_path)) as con,
        ):
            return stored_state(con, self.schema, self.connection, configured)

    def read(self, configured: Sequence[proto.ConfiguredStream]) -> dict[str, int]:
        """The read, its records written as they come; rows per stream committed this sync."""
        import duckdb

        try:
            return self._read(configured)
        except duckdb.Error as exc:  # a file that is no DuckDB database, a full disk, ...
            reason = " ".join(str(exc).split())
            raise LocalSyncError(
                f"airbyte connection '{self.connection}': cannot write {self.duckdb_path}: {reason}"
            ) from None

    def _read(self, configured: Sequence[proto.ConfiguredStream]) -> dict[str, int]:
        state = self._committed_state(configured)
        self._check_state_file(state)
        args = ["read", "--config", str(self.work / "config.json")]
        args += ["--catalog", str(self._file("catalog.json", proto.configured_catalog(configured)))]
        if state:
            args += ["--state", str(self._file("state.json", state))]
        sync_id = int(time.time())
        errors: list[str] = []
        stderr_tail: deque[str] = deque(maxlen=20)
        with ExitStack() as stack:
            proc = self._start(args)
            stack.callback(_stop, proc)
            assert proc.stdout is not None and proc.stderr is not None
            drain = threading.Thread(target=_drain, args=(proc.stderr, stderr_tail), daemon=True)
            drain.start()
            writer: RawWriter | None = None
            for line in proc.stdout:
                message = proto.parse_line(line)
                if isinstance(message, proto.Record | proto.State) and writer is None:
                    writer = self._open_writer(stack, configured, sync_id)
                if isinstance(message, proto.Record):
                    assert writer is not None
                    writer.add(message)
                elif isinstance(message, proto.State):
                    assert writer is not None
                    if writer.checkpoint(message):
                        self._write_state_file(writer)
                elif isinstance(message, proto.TraceError):
                    errors.append(message.message)
                    self.log(proto.mask(f"{CONNECTOR} error: {message.message}", self.secrets))
                elif isinstance(message, proto.Log) and message.level.upper() in _FORWARDED_LEVELS:
                    self.log(proto.mask(f"{CONNECTOR} {message.level}: {message.message}", self.secrets))
            code = proc.wait()
            drain.join(5)
            if errors:
                raise self.fail(f"read failed: {errors[0]}")
            if code != 0:
                raise self.fail(f"read exited with code {code}: {_tail(list(stderr_tail))}")
            if writer is None:  # the source had nothing at all to say: still (re)write full refreshes
                writer = self._open_writer(stack, configured, sync_id)
            writer.finish()
            self._write_state_file(writer)
            return dict(writer.rows)

    def _open_writer(
        self, stack: ExitStack, configured: Sequence[proto.ConfiguredStream], sync_id: int
    ) -> RawWriter:
        """Take the DuckDB file only when there is something to write: the connector's start-up
        happens outside the lock, so dbt tasks are not kept waiting for it."""
        import duckdb

        self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        stack.enter_context(exclusive(duckdb_lock_path(self.duckdb_path), self.log))
        con = stack.enter_context(duckdb.connect(str(self.duckdb_path)))
        return RawWriter(con, self.schema, self.connection, configured, sync_id)

    # --- the state file ------------------------------------------------------------------------

    def _state_doc(self, states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "database": str(self.duckdb_path),
            "schema": self.schema,
            "state": list(states),
        }

    def _check_state_file(self, committed: Sequence[Mapping[str, Any]]) -> None:
        path = state_file(self.state_dir, self.connection)
        try:
            mirrored = json.loads(path.read_text(encoding="utf-8")).get("state")
        except (OSError, ValueError, AttributeError):
            mirrored = None
        if mirrored is not None and mirrored != list(committed):
            self.log(
                f"{path} differs from the state committed with the rows in {self.duckdb_path}; "
                "syncing from the committed state"
            )

    def _write_state_file(self, writer: RawWriter) -> None:
        """Mirror the committed state, atomically, after (never before) its rows are committed."""
        configured = list(writer.streams.values())
        states = stored_state(writer.con, self.schema, self.connection, configured)
        path = state_file(self.state_dir, self.connection)
        tmp = path.with_suffix(".json.tmp")
        doc = self._state_doc(states)
        doc["committed_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)


def _reported_error(lines: Sequence[str]) -> str | None:
    """The connector's own account of a failure: a TRACE error, else an ERROR/FATAL log line."""
    logs = []
    for line in lines:
        message = proto.parse_line(line)
        if isinstance(message, proto.TraceError):
            return message.message
        if isinstance(message, proto.Log) and message.level.upper() in ("ERROR", "FATAL"):
            logs.append(message.message)
    return logs[-1] if logs else None


def _tail(lines: Sequence[str]) -> str:
    kept = [line.strip() for line in lines if line.strip()]
    return " / ".join(kept[-3:]) or "no output"


def _drain(stream: IO[str], tail: deque[str]) -> None:
    for line in stream:
        tail.append(line.rstrip("\n"))


def _stop(proc: subprocess.Popen[str]) -> None:
    """A sync that ends early (an error, a killed task) takes its connector down with it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
