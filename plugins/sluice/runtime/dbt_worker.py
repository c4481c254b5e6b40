"""A warm dbt process: parses the project once, then runs one dbt command per request.

A fresh `dbt run --select model` costs ~3 s before any SQL (Python start, imports, project
parse). The worker pays that once per machine, project, target, manifest and environment (see
dbt_worker_home for what tells workers apart and where their sockets live), then answers each
Airflow task's request with an in-process ``dbtRunner`` call that reuses the parsed manifest
(~0.2 s per model). Every task still runs its own node, so Airflow keeps one status, duration,
log and retry per model; the worker only removes the process start.

Protocol, one request per connection over a Unix socket, JSON lines:
client → {"command": "run", "args": ["--select", ...], "lock": "<DuckDB lock file>" | null,
          "nodes": [fqn selectors], "batch": {"key": "<dag/run/zone>", "args": [...]} | null,
          "watch": bool}
worker → {"accepted": true}, then {"log": "..."}..., then {"done": true, "success": bool}, with
"artifact" (the JSON dbt writes, sources.json) for a command in ARTIFACTS
A zone build task asks with "watch": true and gets {"node": selector, "status", "message",
"seconds", "lines"} per node as dbt finishes it instead of log lines.

dbt runs one invocation at a time (it is not safe to run twice in one process, and DuckDB allows
one writing process per file anyway); requests wait side by side, each in a thread.

A zone build: a task's first try may name its zone's nodes and a key for this DAG run. The first
such request starts one `dbt build` of the whole zone; every task of the zone is then answered
from that build as soon as dbt finished its nodes, with their log lines, when they passed. A node
that failed, was skipped or not reached runs on its own, so a task still fails with its own dbt
error; a retry or a cleared task (try 2+) always runs its node on its own.

This module imports only the standard library, dbt and dbt_worker_home, so it also runs from a
separate dbt virtualenv (set SLUICE_DBT_EXECUTABLE); it reads no sluice setting, the task that
starts it passes them as arguments. A starting worker prunes what dead ones left.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sluice.runtime.dbt_worker_home import SCRATCH_PREFIX, prune
from sluice.runtime.folder_selection import SELECTABLE, FolderIndex

#: how long an idle worker waits for a request before it exits; the task passes $SLUICE_DBT_WORKER_IDLE
IDLE_SECONDS = 600.0
MAX_REQUESTS = 2000  # restart now and then, so a long-lived worker cannot grow without bound


def _release_duckdb() -> None:
    """Close dbt-duckdb's process-wide database handle, so the file is free between requests
    for other processes (readers, ad-hoc dbt, the next deploy)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    env = DuckDBConnectionManager._ENV
    DuckDBConnectionManager.close_all_connections()
    if env is not None:
        with contextlib.suppress(Exception):
            env.close()


@contextlib.contextmanager
def _file_lock(path: str | None) -> Iterator[None]:
    """The DuckDB file's lock (the same file dbt tasks in subprocess mode take): the worker holds
    it, not the task, because a zone build goes on after the task that started it returned."""
    if not path:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Batch:
    """One speculative `dbt build` of a zone's nodes in one DAG run: per node (by its fqn
    selector) its status and log lines, filled in as dbt finishes each node."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.lines: dict[str, list[str]] = defaultdict(list)
        #: per node, dbt's message for its result (the error of a failed node) and its seconds
        self.outcome: dict[str, tuple[str, float]] = {}
        #: nodes in the order dbt finished them, for a watcher that publishes them as they come
        self.done: list[str] = []
        self.finished = False
        self.ok = False
        self.changed = threading.Condition()

    def wait(self, nodes: list[str], timeout: float) -> bool:
        """True when every node passed; False when any did not, or the build ended without it."""
        with self.changed:
            self.changed.wait_for(lambda: self.finished or all(n in self.status for n in nodes), timeout)
            return all(self.status.get(n) in _PASSED for n in nodes)


_PASSED = frozenset({"success", "pass", "warn"})
#: commands whose results a task reads, and the artifact dbt writes them to (--no-write-json
#: keeps the worker from writing it on every call: it is sent back with the answer instead)
ARTIFACTS = {"source freshness": "sources.json"}
BATCHES_KEPT = 16
BATCH_WAIT_SECONDS = 6 * 3600.0


class _Worker:
    def __init__(
        self, project_dir: Path, profiles_dir: Path, target: str, dbt_vars: str | None, scratch: Path
    ) -> None:
        from dbt.cli.main import dbtRunner

        self.common = [
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(profiles_dir),
            "--target",
            target,
            "--target-path",
            str(scratch),
            "--log-path",
            str(scratch),
            *(["--vars", dbt_vars] if dbt_vars else []),
        ]
        self._handler: Callable[[Any], None] | None = None
        self.scratch = scratch
        parsed = dbtRunner(callbacks=[self._on_event]).invoke(["parse", "--quiet", *self.common])
        elsewhere = _root_elsewhere(parsed.result, project_dir) if parsed.success else None
        if elsewhere is not None:
            # dbt reuses a partial-parse file whatever folder it was made for, and dbt-duckdb
            # loads a seed from the root recorded there: `dbt parse --project-dir dbt` run from
            # the repository would send this worker to dbt/dbt/seeds
            sys.stdout.write(
                f"sluice dbt worker: the partial-parse file was made for the project at {elsewhere!r}, "
                "not here; parsing the whole project\n"
            )
            (scratch / "partial_parse.msgpack").unlink(missing_ok=True)
            parsed = dbtRunner(callbacks=[self._on_event]).invoke(["parse", "--quiet", *self.common])
        if not parsed.success:
            raise SystemExit(f"dbt parse failed: {parsed.exception}")
        self.selector = {uid: "fqn:" + ".".join(node.fqn) for uid, node in parsed.result.nodes.items()}
        self.folders = FolderIndex(project_dir, _selectable(parsed.result), self.selector)
        self.runner = dbtRunner(manifest=parsed.result, callbacks=[self._on_event])
        self.dbt_lock = threading.Lock()  # dbt is not safe to run twice at once in one process
        self.batches: OrderedDict[str, _Batch] = OrderedDict()
        self.batches_lock = threading.Lock()
        _release_duckdb()

    def _on_event(self, event: Any) -> None:
        if self._handler is not None:
            self._handler(event)

    def _invoke(
        self, command: str, args: list[str], handler: Callable[[Any], None], sink: Callable[[str], None]
    ) -> tuple[bool, Any]:
        """dbt's success and its result object (None when dbt stopped before any result)."""
        self._handler = handler
        try:
            # --no-write-json: each call would otherwise rewrite manifest.json, which grows with the
            # project and is not read by anyone here
            argv = ["--no-use-colors", "--log-level", "none", *command.split(), *self.common]
            result = self.runner.invoke([*argv, "--no-write-json", *args])
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                sink(f"dbt raised: {result.exception}")
            return bool(result.success), result.result
        finally:
            self._handler = None
            _release_duckdb()

    def run(
        self, command: str, args: list[str], sink: Callable[[str], None], lock: str | None
    ) -> tuple[bool, Any]:
        """dbt's success, and for a command in ARTIFACTS the artifact of its results."""

        def handler(event: Any) -> None:
            if event.info.level != "debug":
                sink(event.info.msg)

        with self.dbt_lock, _file_lock(lock):
            ok, result = self._invoke(command, args, handler, sink)
            name = ARTIFACTS.get(command)
            if name is None or not hasattr(result, "write"):
                return ok, None
            # dbt's own writer, so the artifact is the one a `dbt` process would leave; the
            # scratch folder is this worker's and dbt_lock is held, so the name is free
            path = self.scratch / name
            result.write(str(path))
            try:
                return ok, json.loads(path.read_text(encoding="utf-8"))
            finally:
                path.unlink(missing_ok=True)

    def batch(self, key: str, args: list[str], lock: str | None) -> _Batch:
        """The zone build for ``key``, started on first request."""
        with self.batches_lock:
            found = self.batches.get(key)
            if found is None:
                found = self.batches[key] = _Batch()
                while len(self.batches) > BATCHES_KEPT:
                    self.batches.popitem(last=False)
                build_args = self.folders.fewer_selectors(args)
                threading.Thread(target=self._build, args=(found, build_args, lock), daemon=True).start()
            return found

    def _build(self, batch: _Batch, args: list[str], lock: str | None) -> None:
        def handler(event: Any) -> None:
            info = getattr(event.data, "node_info", None)
            selector = self.selector.get(info.unique_id) if info is not None else None
            if selector is None:
                return
            if event.info.name == "NodeFinished":
                result = event.data.run_result
                with batch.changed:
                    batch.status[selector] = str(result.status)
                    batch.outcome[selector] = (str(result.message or ""), float(result.execution_time or 0))
                    batch.done.append(selector)
                    batch.changed.notify_all()
            elif event.info.level != "debug":
                batch.lines[selector].append(event.info.msg)

        try:
            with self.dbt_lock, _file_lock(lock):
                # dbt's success is False when a node failed: the build still ran to its end
                self._invoke("build", args, handler, lambda _: None)
                batch.ok = True
        finally:
            with batch.changed:
                batch.finished = True
                batch.changed.notify_all()


def _selectable(manifest: Any) -> Iterator[tuple[str, str, str]]:
    """(unique id, resource type, original file path) of every node dbt's path method looks at."""
    for kind in SELECTABLE:
        for uid, node in getattr(manifest, kind, {}).items():
            yield uid, str(node.resource_type), str(node.original_file_path)


def _root_elsewhere(manifest: Any, project_dir: Path) -> str | None:
    """The project root the manifest's own files were parsed under, when it is not
    ``project_dir`` as seen from this worker's folder (a partial-parse file made from another
    working folder, or another copy of the project)."""
    here = project_dir.resolve()
    name = manifest.metadata.project_name
    roots = {f.path.project_root for f in manifest.files.values() if f.project_name == name}
    return next((root for root in sorted(roots) if Path(root).resolve() != here), None)


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def serve(
    project_dir: Path,
    profiles_dir: Path,
    target: str,
    dbt_vars: str | None,
    path: Path,
    lock_fd: int | None = None,
    idle_s: float = IDLE_SECONDS,
) -> None:
    # named after this pid, so a later worker can tell a killed one's folder from a live one's
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as tmp:
        scratch = Path(tmp)
        # dbt re-parses the whole project unless its partial-parse file matches the profile and
        # target; the worker keeps its own per target, falling back to the one `dbt parse` left
        flavour = hashlib.sha256(dbt_vars.encode()).hexdigest()[:8] if dbt_vars else "live"
        kept = project_dir / "target" / "sluice" / f"partial_parse.{target}.{flavour}.msgpack"
        for partial in (kept, project_dir / "target" / "partial_parse.msgpack"):
            if partial.exists():
                shutil.copy2(partial, scratch / "partial_parse.msgpack")
                break
        worker = _Worker(project_dir, profiles_dir, target, dbt_vars, scratch)
        with contextlib.suppress(OSError):
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(scratch / "partial_parse.msgpack", kept)
        staging = path.with_suffix(f".{os.getpid()}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(str(staging))
            server.listen(64)
            staging.replace(path)  # appear only once ready to serve
            _stop_on_sigterm(scratch, path)
            if lock_fd is not None:  # the starter's lock, held until now so nobody starts a twin
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
                os.close(lock_fd)
            with contextlib.suppress(OSError):  # housekeeping only: never stops a worker
                prune(path.parent)
            server.settimeout(idle_s)
            handlers: list[threading.Thread] = []
            try:
                for _ in range(MAX_REQUESTS):
                    try:
                        conn, _ = server.accept()
                    except TimeoutError:
                        break
                    # one thread per request: tasks answered from a zone build wait side by side
                    thread = threading.Thread(target=_serve_one, args=(worker, conn), daemon=True)
                    thread.start()
                    handlers = [t for t in handlers if t.is_alive()] + [thread]
            finally:
                for thread in handlers:
                    thread.join()
                # unlink while still listening: a client that fails to connect from here on
                # starts a new worker, and this one never removes that worker's socket
                path.unlink(missing_ok=True)


def _stop_on_sigterm(scratch: Path, path: Path) -> None:
    """A killed or timed-out task TERMs its worker to stop the dbt call in flight: exit at once,
    without waiting for that call, but take the scratch folder (the parsed manifest, which grows
    with the project) and this worker's socket along, or every kill would leave them behind."""
    ours = path.stat().st_ino

    def stop(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            if path.stat().st_ino == ours:  # not a successor's socket
                path.unlink()
        shutil.rmtree(scratch, ignore_errors=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def _serve_one(worker: _Worker, conn: socket.socket) -> None:
    with conn:
        _handle(worker, conn)


def _handle(worker: _Worker, conn: socket.socket) -> None:
    conn.settimeout(30)
    try:
        request = json.loads(conn.makefile("r").readline())
        conn.settimeout(None)
        _send(conn, {"accepted": True, "pid": os.getpid()})

        def sink(line: str) -> None:
            with contextlib.suppress(OSError):
                _send(conn, {"log": line})

        lock = request.get("lock")
        batch = request.get("batch")
        if batch and request.get("watch"):
            _stream_batch(worker, batch, lock, conn)
            return
        if batch and _answered_from_batch(worker, batch, [str(n) for n in request["nodes"]], lock, sink):
            _send(conn, {"done": True, "success": True})
            return
        ok, artifact = worker.run(str(request["command"]), [str(s) for s in request["args"]], sink, lock)
        _send(conn, {"done": True, "success": ok, **({"artifact": artifact} if artifact else {})})
    except (OSError, ValueError, KeyError) as exc:
        with contextlib.suppress(OSError):
            _send(conn, {"done": True, "success": False, "error": str(exc)})


def _answered_from_batch(
    worker: _Worker, batch: dict[str, Any], nodes: list[str], lock: str | None, sink: Callable[[str], None]
) -> bool:
    """Answer a task from its zone's build when all of its nodes passed there; any other outcome
    (a failure, a skip, a build that never reached the node) is left to a run of its own, so
    only a node's own run ever fails its task."""
    found = worker.batch(str(batch["key"]), [str(a) for a in batch["args"]], lock)
    passed = found.wait(nodes, BATCH_WAIT_SECONDS)
    if not passed:
        states = ", ".join(f"{n}: {found.status.get(n, 'not reached')}" for n in nodes)
        sink(f"the zone build did not pass this task's nodes ({states}); running them on their own")
        return False
    sink("answered from this DAG run's build of the zone (one `dbt build` in the warm worker):")
    for node in nodes:
        for line in found.lines.get(node, []):
            sink(line)
    return True


def _stream_batch(worker: _Worker, batch: dict[str, Any], lock: str | None, conn: socket.socket) -> None:
    """Start (or join) the zone build and send each node's result as dbt finishes it:
    {"node": selector, "status", "message", "seconds", "lines"}, then {"done", "success"}, where
    success says the build ran to its end (whatever its nodes did)."""
    found = worker.batch(str(batch["key"]), [str(a) for a in batch["args"]], lock)
    sent = 0

    def news() -> bool:
        return found.finished or len(found.done) > sent

    while True:
        with found.changed:
            found.changed.wait_for(news, BATCH_WAIT_SECONDS)
            fresh, finished = found.done[sent:], found.finished
        for node in fresh:
            message, seconds = found.outcome[node]
            _send(
                conn,
                {
                    "node": node,
                    "status": found.status[node],
                    "message": message,
                    "seconds": seconds,
                    "lines": list(found.lines.get(node, [])),
                },
            )
        sent += len(fresh)
        if finished and sent == len(found.done):
            _send(conn, {"done": True, "success": found.ok})
            return


def request(path: Path, message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Send one request and yield the worker's messages; raises ConnectionError if none."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(path))
        _send(conn, message)
        for line in conn.makefile("r"):
            yield json.loads(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A warm dbt worker for sluice tasks.")
    parser.add_argument("--project-dir", required=True, type=Path)
    parser.add_argument("--profiles-dir", required=True, type=Path)
    parser.add_argument("--target", required=True)
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--vars", default=None)
    parser.add_argument("--start-lock-fd", type=int, default=None)
    parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    sys.stdout.write(f"sluice dbt worker {os.getpid()} starting on {args.socket}\n")
    sys.stdout.flush()
    serve(
        args.project_dir,
        args.profiles_dir,
        args.target,
        args.vars,
        args.socket,
        args.start_lock_fd,
        args.idle_seconds,
    )
    sys.stdout.write(f"sluice dbt worker {os.getpid()} exiting after {time.monotonic() - started:.0f} s\n")


if __name__ == "__main__":
    main(sys.argv[1:])
