"""Run one dbt command for one task, in the warm dbt worker or as a fresh process: configurable
executable, target from the environment, DuckDB writes serialised, dbt's own output streamed to
the task log."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.errors import DbtCommandError, SluiceError
from sluice.runtime import dbt_worker, dbt_worker_home
from sluice.runtime.dbt_profiles import profile_duckdb_path, target_output
from sluice.runtime.file_locks import duckdb_lock_path, exclusive
from sluice.runtime.publish import Engine
from sluice.settings import settings
from sluice.spec.models import ExecutionMode

WORKER_START_SECONDS = 120
#: the folder that holds the sluice package, for a worker started from another virtualenv
_SLUICE_ROOT = str(Path(__file__).resolve().parents[2])

EXECUTABLE_VAR = "SLUICE_DBT_EXECUTABLE"
_SUMMARY_MARK = "Completed with"
_ERROR_WORDS = ("Error", "ERROR", "FAIL", "Failure")
#: the dbt commands that take --full-refresh (snapshot and test refuse it)
FULL_REFRESH_COMMANDS = frozenset({"run", "seed", "build"})


def dbt_executable(configured: str | None = None) -> str:
    """$SLUICE_DBT_EXECUTABLE, else the spec's setting, else dbt beside this Python, else PATH."""
    chosen = settings().dbt_executable(configured)
    if chosen:
        return chosen
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_target(configured: str) -> str:
    """$SLUICE_DBT_TARGET wins over the spec, so one DAG file serves every environment."""
    return settings().dbt_target(configured)


def dbt_execution(configured: str) -> ExecutionMode:
    """$SLUICE_DBT_EXECUTION (worker or subprocess) wins over the spec's dbt.execution."""
    return settings().dbt_execution(configured)


def worker_python(configured: str | None) -> str:
    """The Python of the virtualenv that holds dbt: where the warm worker must run."""
    executable = settings().dbt_executable(configured)
    if executable:
        beside = Path(executable).parent / "python"
        if beside.exists():
            return str(beside)
    return sys.executable


def adapter_type(project_dir: Path, profiles_dir: Path, target: str) -> str | None:
    """The ``type`` of the target's output in profiles.yml, or None when it cannot be told."""
    output = target_output(project_dir, profiles_dir, target)
    kind = output.get("type") if output else None
    return kind if isinstance(kind, str) else None


@dataclass(frozen=True)
class DbtCall:
    """One dbt command over an explicit list of nodes (or a macro, for run-operation)."""

    command: str
    select: tuple[str, ...]
    project_dir: Path
    profiles_dir: Path
    target: str
    executable: str | None = None
    execution: ExecutionMode = ExecutionMode.WORKER
    #: dbt --vars (JSON); an atomic zone's tasks name the schemas they build into staging
    vars: str | None = None
    #: arguments after the command, such as run-operation's macro and --args
    args: tuple[str, ...] = ()
    #: the --vars of the pipeline's other workers ("" for none), started ahead of need
    warm: tuple[str, ...] = ()
    #: the selectors of every dbt node of the task's zone: in worker mode a task's first try is
    #: answered from one `dbt build` of them per DAG run (see dbt_worker)
    batch: tuple[str, ...] = ()
    #: this call's own dbt vars (JSON): the DAG run's data interval and the trigger's vars. A warm
    #: worker is chosen by ``vars`` alone, so a new run does not need a new worker
    run_vars: str | None = None
    #: dbt --full-refresh, for the commands that take it (a run triggered with full_refresh)
    full_refresh: bool = False
    #: the manifest the plan was made from: what lineage names the call's datasets from
    manifest: Path | None = None

    def _run_vars(self) -> list[str]:
        """``--vars`` again, after the common flags (the last one counts), when the call has its own.
        ``vars`` wins a shared key: an atomic zone's staging schemas are not the trigger's to move."""
        if not self.run_vars:
            return []
        merged = {**json.loads(self.run_vars), **(json.loads(self.vars) if self.vars else {})}
        return ["--vars", json.dumps(merged, sort_keys=True)]

    def _refresh(self, command: str) -> list[str]:
        return ["--full-refresh"] if self.full_refresh and command in FULL_REFRESH_COMMANDS else []

    def options(self) -> list[str]:
        """What follows the common flags: the command's own arguments and the selection."""
        out = [*self.args, *self._run_vars(), *self._refresh(self.command)]
        return [*out, "--select", *self.select] if self.select else out

    def batch_args(self) -> list[str]:
        """The zone build's selection: exactly the zone's nodes. dbt would otherwise add every test
        touching one of them (eager indirect selection), later zones' tests among them, which
        fail there for want of their other parents."""
        selection = ["--select", *self.batch, "--indirect-selection", "cautious"]
        return [*self._run_vars(), *self._refresh("build"), *selection]

    def describe(self) -> str:
        return " ".join(self.select) or " ".join(self.args[:1])

    def argv(self, target_path: Path) -> list[str]:
        return [
            dbt_executable(self.executable),
            "--no-use-colors",
            *self.command.split(),
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.profiles_dir),
            "--target",
            dbt_target(self.target),
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path),
            *(["--vars", self.vars] if self.vars else []),
            *self.options(),
        ]

    def lock_path(self) -> Path | None:
        """The DuckDB file's own lock, shared with local Airbyte syncs into the same file."""
        target = dbt_target(self.target)
        if adapter_type(self.project_dir, self.profiles_dir, target) != Engine.DUCKDB:
            return None
        database = profile_duckdb_path(self.project_dir, self.profiles_dir, target)
        if database is not None:
            return duckdb_lock_path(database)
        return self.project_dir / "target" / f".sluice-{target}.lock"


def _dbt_env() -> dict[str, str]:
    """This environment, with dbt's usage tracking off unless the user set it: no network here."""
    return {"DBT_SEND_ANONYMOUS_USAGE_STATS": "False", **os.environ}


@contextmanager
def _scratch_target(project_dir: Path) -> Iterator[Path]:
    """A private target dir per call, so parallel dbt processes never share artifacts;
    seeded with the partial-parse file so dbt does not re-parse the whole project."""
    with tempfile.TemporaryDirectory(prefix="sluice-dbt-") as tmp:
        partial = project_dir / "target" / "partial_parse.msgpack"
        if partial.exists():
            shutil.copy2(partial, Path(tmp) / partial.name)
        yield Path(tmp)


def _artifact(target_path: Path, command: str) -> dict[str, Any] | None:
    """The artifact a dbt process left for its results, when the command has one and dbt got
    as far as writing it."""
    name = dbt_worker.ARTIFACTS.get(command)
    if name is None:
        return None
    try:
        found = json.loads((target_path / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def error_lines(lines: Sequence[str]) -> list[str]:
    """dbt's own account of what failed: its closing summary, else the lines that say error."""
    for i, line in enumerate(lines):
        if _SUMMARY_MARK in line:
            return [s.strip() for s in lines[i:] if s.strip()]
    flagged = [s.strip() for s in lines if any(w in s for w in _ERROR_WORDS)]
    return flagged or [s.strip() for s in lines[-10:] if s.strip()]


class DbtProcess:
    """A dbt call run in a warm worker or a fresh process; killable from another thread."""

    def __init__(self, call: DbtCall) -> None:
        self.call = call
        self.proc: subprocess.Popen[str] | None = None
        self.worker_pid: int | None = None
        #: after a run of a command in dbt_worker.ARTIFACTS: the artifact dbt wrote (sources.json)
        self.artifact: dict[str, Any] | None = None

    def run(self, log: Callable[[str], None], batch_key: str | None = None) -> list[str]:
        """Run to completion, streaming each output line to ``log``; raise DbtCommandError.
        ``batch_key`` (say dag/run/zone) lets the worker answer from its build of the zone."""
        call = self.call
        lines: list[str] = []

        def keep(line: str) -> None:
            lines.append(line)
            log(line)

        lock = call.lock_path()
        try:
            if dbt_execution(call.execution) is ExecutionMode.WORKER:
                # the worker takes the DuckDB lock itself: a zone build outlives this request
                ok = self._in_worker(keep, lock, batch_key)
            else:
                with exclusive(lock, log) if lock else nullcontext():
                    ok = self._in_subprocess(keep)
        except BaseException:
            self.kill()  # a timeout or kill must not leave dbt running on
            raise
        if not ok:
            details = "\n".join(error_lines(lines))
            raise DbtCommandError(f"dbt {call.command} failed for {call.describe()}:\n{details}")
        return lines

    def _in_subprocess(self, log: Callable[[str], None]) -> bool:
        call = self.call
        env = _dbt_env()
        with _scratch_target(call.project_dir) as tmp:
            argv = call.argv(tmp)
            log("$ " + " ".join(argv))
            try:
                self.proc = subprocess.Popen(
                    argv,
                    cwd=call.project_dir,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    bufsize=1,
                )
            except FileNotFoundError:
                raise SluiceError(
                    f"dbt executable '{argv[0]}' not found; set {EXECUTABLE_VAR} or dbt.executable"
                ) from None
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                log(raw.rstrip("\n"))
            ok = self.proc.wait() == 0
            self.artifact = _artifact(tmp, call.command)
            return ok

    def build_zone(
        self, log: Callable[[str], None], batch_key: str, publish: Callable[[dict[str, Any]], None]
    ) -> bool:
        """Build the call's zone (its ``batch``) once in the warm worker under ``batch_key``, or join
        that build when a task of the zone started it; ``publish`` gets each node's result as dbt
        finishes it. True when the build ran to its end, whatever its nodes did; raises
        SluiceError when no worker could build it."""
        call = self.call
        if not call.batch:
            raise SluiceError(f"{call.describe()}: a zone build needs the zone's nodes")
        args = call.batch_args()
        message: dict[str, object] = {"command": "build", "args": args, "nodes": [], "watch": True}
        message["batch"] = {"key": batch_key, "args": args}
        return self._in_worker(log, call.lock_path(), None, message, publish)

    def _in_worker(
        self,
        log: Callable[[str], None],
        lock: Path | None,
        batch_key: str | None,
        message_out: dict[str, object] | None = None,
        on_node: Callable[[dict[str, Any]], None] | None = None,
    ) -> bool:
        call = self.call
        target = dbt_target(call.target)
        python = worker_python(call.executable)
        try:
            path = dbt_worker_home.socket_path(call.project_dir, call.profiles_dir, target, python, call.vars)
        except PermissionError as exc:
            raise SluiceError(f"dbt worker: {exc}") from None
        shown = " ".join([call.command, *call.options(), *(["--vars", call.vars] if call.vars else [])])
        if message_out is None:
            log(f"dbt {shown} (warm dbt worker, target {target})")
            message_out = {
                "command": call.command,
                "args": call.options(),
                "nodes": list(call.select),
                "batch": {"key": batch_key, "args": call.batch_args()} if batch_key and call.batch else None,
            }
        else:
            log(f"dbt build of the zone, {len(call.batch)} nodes (warm dbt worker, target {target})")
        message_out["lock"] = str(lock) if lock else None
        for _ in range(3):
            _start_worker(path, call, target, python, log)
            _prewarm(call, target, python)
            accepted = False
            try:
                for message in dbt_worker.request(path, message_out):
                    if message.get("accepted"):
                        accepted = True
                        self.worker_pid = message.get("pid")
                    elif "log" in message:
                        log(message["log"])
                    elif "node" in message and on_node is not None:
                        on_node(message)
                    elif message.get("done"):
                        if message.get("error"):
                            log(f"dbt worker: {message['error']}")
                        self.artifact = message.get("artifact")
                        return bool(message.get("success"))
            except OSError:
                pass
            if accepted:
                raise SluiceError(f"the dbt worker stopped while running {call.describe()}")
            path.unlink(missing_ok=True)  # a dead worker's socket: start a new one
        raise SluiceError(f"no dbt worker answered on {path}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
        if self.worker_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.worker_pid, signal.SIGTERM)


def _start_worker(path: Path, call: DbtCall, target: str, python: str, log: Callable[[str], None]) -> None:
    """Start a worker for ``path`` unless one is there; one starter at a time per socket."""
    if path.exists():
        return
    with exclusive(path.with_suffix(".start.lock"), log, "another task is starting this dbt worker") as lock:
        if path.exists():
            return
        proc = _spawn_worker(path, call, target, python, lock.fileno(), log)
        log_file = path.with_suffix(".log")
        deadline = time.monotonic() + WORKER_START_SECONDS
        while not path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace").splitlines()[-5:]
                raise SluiceError(f"the dbt worker did not start: {' / '.join(tail)}")
            time.sleep(0.05)


def warm_up(call: DbtCall) -> None:
    """Start the workers of ``call`` and of its ``warm`` flavours without waiting: for a task that
    runs before any dbt task (an Airbyte sync), so the project parses while it runs."""
    if dbt_execution(call.execution) is not ExecutionMode.WORKER:
        return
    target, python = dbt_target(call.target), worker_python(call.executable)
    with contextlib.suppress(OSError):  # only a head start: the first dbt task starts it anyway
        _prewarm(dataclasses.replace(call, warm=(call.vars or "", *call.warm)), target, python)


def _prewarm(call: DbtCall, target: str, python: str) -> None:
    """Start, without waiting, the pipeline's other workers (an atomic zone's staging build has
    its own): their project parse then happens before their first task, not on its clock."""
    for flavour in call.warm:
        other = dataclasses.replace(call, vars=flavour or None, warm=())
        path = dbt_worker_home.socket_path(call.project_dir, call.profiles_dir, target, python, other.vars)
        if path.exists():
            continue
        with path.with_suffix(".start.lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being started already
            if not path.exists():
                # the worker inherits the locked file and unlocks it once serving; closing our
                # copy here leaves the lock with it, so no task starts a second one meanwhile
                _spawn_worker(path, other, target, python, lock.fileno(), lambda _: None)


def _spawn_worker(
    path: Path, call: DbtCall, target: str, python: str, lock_fd: int, log: Callable[[str], None]
) -> subprocess.Popen[bytes]:
    log_file = path.with_suffix(".log")
    env = _dbt_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_SLUICE_ROOT, os.environ.get("PYTHONPATH")]))
    argv = [python, "-m", "sluice.runtime.dbt_worker", "--project-dir", str(call.project_dir)]
    argv += ["--profiles-dir", str(call.profiles_dir), "--target", target, "--socket", str(path)]
    argv += ["--vars", call.vars] if call.vars else []
    argv += ["--start-lock-fd", str(lock_fd), "--idle-seconds", repr(settings().dbt_worker_idle_s)]
    log(f"starting a dbt worker: {' '.join(argv)} (log: {log_file})")
    with log_file.open("a") as out:
        return subprocess.Popen(
            argv,
            cwd=call.project_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(lock_fd,),
        )
