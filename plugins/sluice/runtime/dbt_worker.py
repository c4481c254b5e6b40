"""A warm dbt process: parses the project once, then runs one dbt command per request.

A fresh `dbt run --select model` costs ~3 s before any SQL (Python start, imports, project
parse). The worker pays that once per machine, project, target and manifest, then answers each
Airflow task's request with an in-process ``dbtRunner`` call that reuses the parsed manifest
(~0.2 s per model). Every task still runs its own node, so Airflow keeps one status, duration,
log and retry per model; the worker only removes the process start.

Protocol, one request per connection over a Unix socket, JSON lines:
client → {"command": "run", "args": ["--select", ...]}
worker → {"accepted": true}, then {"log": "..."}..., then {"done": true, "success": bool}

Requests run one at a time: dbt is not safe to run concurrently in one process, and DuckDB
allows one writing process per file anyway. This module imports only the standard library and
dbt, so it also runs from a separate dbt virtualenv (set SLUICE_DBT_EXECUTABLE).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

IDLE_SECONDS = float(os.environ.get("SLUICE_DBT_WORKER_IDLE", "600"))
MAX_REQUESTS = 2000  # restart now and then, so a long-lived worker cannot grow without bound


def socket_path(
    project_dir: Path, profiles_dir: Path, target: str, python: str, dbt_vars: str | None = None
) -> Path:
    """One worker per project, profiles, target, vars, interpreter and manifest version: vars
    decide schema names at parse time, so an atomic zone's staging build has its own worker."""
    manifest = project_dir / "target" / "manifest.json"
    try:
        stat = manifest.stat()
        version = f"{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        version = "none"
    key = "\0".join([str(project_dir), str(profiles_dir), target, python, version, dbt_vars or ""])
    # Unix socket paths are limited to ~100 bytes: keep it short
    return private_dir() / f"dbt-{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"


def private_dir() -> Path:
    """A folder only this user can enter: whoever can reach a worker's socket can make it run
    dbt with this user's credentials, and a socket planted by someone else must not be trusted."""
    folder = Path(tempfile.gettempdir()) / f"sluice-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    stat = folder.stat()
    if stat.st_uid != os.getuid() or stat.st_mode & 0o077:
        raise PermissionError(f"{folder} must belong to this user with mode 700; remove it and retry")
    return folder


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
        self._sink: Callable[[str], None] | None = None
        parsed = dbtRunner(callbacks=[self._on_event]).invoke(["parse", "--quiet", *self.common])
        if not parsed.success:
            raise SystemExit(f"dbt parse failed: {parsed.exception}")
        self.runner = dbtRunner(manifest=parsed.result, callbacks=[self._on_event])
        _release_duckdb()

    def _on_event(self, event: Any) -> None:
        if self._sink is not None and event.info.level != "debug":
            self._sink(event.info.msg)

    def run(self, command: str, args: list[str], sink: Callable[[str], None]) -> bool:
        self._sink = sink
        try:
            # --no-write-json: each call would otherwise rewrite manifest.json, which grows with the
            # project and is not read by anyone here
            argv = ["--no-use-colors", "--log-level", "none", command, *self.common, "--no-write-json", *args]
            result = self.runner.invoke(argv)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                sink(f"dbt raised: {result.exception}")
            return bool(result.success)
        finally:
            self._sink = None
            _release_duckdb()


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def serve(
    project_dir: Path,
    profiles_dir: Path,
    target: str,
    dbt_vars: str | None,
    path: Path,
    lock_fd: int | None = None,
) -> None:
    with tempfile.TemporaryDirectory(prefix="sluice-worker-") as tmp:
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
            if lock_fd is not None:  # the starter's lock, held until now so nobody starts a twin
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
                os.close(lock_fd)
            server.settimeout(IDLE_SECONDS)
            try:
                for _ in range(MAX_REQUESTS):
                    try:
                        conn, _ = server.accept()
                    except TimeoutError:
                        break
                    with conn:
                        _handle(worker, conn)
            finally:
                # unlink while still listening: a client that fails to connect from here on
                # starts a new worker, and this one never removes that worker's socket
                path.unlink(missing_ok=True)


def _handle(worker: _Worker, conn: socket.socket) -> None:
    conn.settimeout(30)
    try:
        request = json.loads(conn.makefile("r").readline())
        conn.settimeout(None)
        _send(conn, {"accepted": True, "pid": os.getpid()})

        def sink(line: str) -> None:
            with contextlib.suppress(OSError):
                _send(conn, {"log": line})

        ok = worker.run(str(request["command"]), [str(s) for s in request["args"]], sink)
        _send(conn, {"done": True, "success": ok})
    except (OSError, ValueError, KeyError) as exc:
        with contextlib.suppress(OSError):
            _send(conn, {"done": True, "success": False, "error": str(exc)})


def request(path: Path, command: str, args: list[str]) -> Iterator[dict[str, Any]]:
    """Send one request and yield the worker's messages; raises ConnectionError if none."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(path))
        _send(conn, {"command": command, "args": args})
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
    args = parser.parse_args(argv)
    started = time.monotonic()
    sys.stdout.write(f"sluice dbt worker {os.getpid()} starting on {args.socket}\n")
    sys.stdout.flush()
    serve(args.project_dir, args.profiles_dir, args.target, args.vars, args.socket, args.start_lock_fd)
    sys.stdout.write(f"sluice dbt worker {os.getpid()} exiting after {time.monotonic() - started:.0f} s\n")


if __name__ == "__main__":
    main(sys.argv[1:])
