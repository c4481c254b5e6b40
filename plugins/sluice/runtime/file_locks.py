"""Cross-process file locks. DuckDB allows one writing process per database file, so every sluice
writer of a file (dbt tasks and local Airbyte syncs) takes the one lock file beside it."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

DUCKDB_WRITER = "another dbt task is writing the same DuckDB file"


@contextmanager
def exclusive(path: Path, log: Callable[[str], None], holder: str = DUCKDB_WRITER) -> Iterator[IO[str]]:
    """Hold an exclusive flock on ``path``; released when the process dies, so never stale.
    Yields the open lock file, which a child process may inherit to keep holding the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for {path}: {holder}")
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            log(f"got {path} after {time.monotonic() - started:.1f} s")
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def duckdb_lock_path(database: Path) -> Path:
    """The lock beside the database: the same file for every writer, whatever its working folder."""
    resolved = database.expanduser().resolve()
    return resolved.with_name(f".{resolved.name}.sluice.lock")
