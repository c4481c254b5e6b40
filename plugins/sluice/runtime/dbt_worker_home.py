"""Where warm dbt workers live, what tells two of them apart, and what dead ones leave behind.

A worker's socket is named by a hash of everything that decides what it parses and where it
writes, so a task only ever talks to a worker that acts as the task itself would:

- the project, profiles folder, target, dbt ``--vars`` and the Python that runs dbt;
- the content of ``target/manifest.json`` (SHA-256): a new parse (a model or test changed, added
  or deleted) means a fresh worker. Hashing a large manifest on every task is not free, so the
  hash is kept in the private folder per (device, inode, size, mtime, ctime); a manifest changed
  in the last few seconds is hashed again every time, because a rewrite within one clock tick
  keeps its mtime and size (git's "racy" rule);
- the environment the profile and the project read: every variable named by ``env_var('NAME')``
  in the target's output in profiles.yml, in dbt_project.yml and in the manifest's code, plus
  every ``DBT_*`` variable (dbt's own settings). A task whose SLUICE_DUCKDB_PATH, Postgres or
  Snowflake variables differ gets a worker of its own, started with its own environment, so it
  writes the database its environment names and holds that database's lock. Only literal names
  are seen (``env_var('X' ~ suffix)`` is not), but a DuckDB target's file also counts as the
  profile renders it, so two DuckDB files never share a worker however their path is spelled.
  The values are only hashed into the socket's name, never written anywhere, and that name sits
  in a folder only this user can enter.

The private folder is ``$TMPDIR/sluice-<uid>``; when another user got there first (or it is open
to others), ``$XDG_RUNTIME_DIR/sluice``, then ``$AIRFLOW_HOME/sluice-run`` (``~/.sluice-run``
without an Airflow home) - never a folder another user could plant a socket in.

This module imports only the standard library at module level: the worker runs it from the dbt
virtualenv to prune.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
from pathlib import Path

#: a Unix socket path must fit in ~107 bytes, and the worker's staging name adds a pid
MAX_DIR_BYTES = 70
#: a manifest changed this recently is hashed again on every call (see the module docstring)
RACY_SECONDS = 3.0
#: what dead workers left (logs, start locks, hashes) goes once untouched this long
PRUNE_AFTER_SECONDS = 3 * 86400.0
SCRATCH_PREFIX = "sluice-worker-"

_ENV_VAR = re.compile(r"""env_var\(\s*\\?["']([A-Za-z_][A-Za-z0-9_]*)""")
_memo: dict[tuple[str, int, int, int, int, int], tuple[str, frozenset[str]]] = {}


def socket_path(
    project_dir: Path, profiles_dir: Path, target: str, python: str, dbt_vars: str | None = None
) -> Path:
    """The socket of the worker that acts for a task of this project, target, vars, Python,
    manifest and environment (this process's)."""
    from sluice.runtime.dbt_profiles import profile_duckdb_path  # yaml: only in the task's process

    folder = private_dir()
    digest, manifest_names = manifest_digest(project_dir / "target" / "manifest.json", folder)
    names = profile_env_names(project_dir, profiles_dir, target) | manifest_names
    # the DuckDB file as the profile renders it here: also right for a name built at render time
    database = str(profile_duckdb_path(project_dir, profiles_dir, target))
    key = [str(project_dir), str(profiles_dir), target, python, digest, dbt_vars or "", database]
    key.append(env_fingerprint(names))
    return folder / f"dbt-{hashlib.sha256(chr(0).join(key).encode()).hexdigest()[:16]}.sock"


def env_fingerprint(names: frozenset[str] | set[str]) -> str:
    """The names and values of ``names`` plus every DBT_* variable (unset told from empty): for
    hashing only, since values may be secrets."""
    chosen = sorted(set(names) | {name for name in os.environ if name.startswith("DBT_")})
    return "\0".join(f"{n}={os.environ[n]}" if n in os.environ else f"{n} unset" for n in chosen)


def profile_env_names(project_dir: Path, profiles_dir: Path, target: str) -> frozenset[str]:
    """The variables the target's profile output and dbt_project.yml read with ``env_var``; the
    whole profiles.yml when the target's output cannot be told."""
    from sluice.runtime.dbt_profiles import target_output  # yaml: only in the task's process

    output = target_output(project_dir, profiles_dir, target)
    profile = json.dumps(output, default=str) if output is not None else _text(profiles_dir / "profiles.yml")
    project = _text(project_dir / "dbt_project.yml")
    return frozenset(_ENV_VAR.findall(profile)) | frozenset(_ENV_VAR.findall(project))


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def manifest_digest(manifest: Path, cache_dir: Path) -> tuple[str, frozenset[str]]:
    """The manifest's SHA-256 and the variables its code reads with ``env_var``; ("none", {})
    when there is no manifest."""
    try:
        seen = manifest.stat()
    except OSError:
        return "none", frozenset()
    stamp = (str(manifest), seen.st_dev, seen.st_ino, seen.st_size, seen.st_mtime_ns, seen.st_ctime_ns)
    settled = time.time_ns() - max(seen.st_mtime_ns, seen.st_ctime_ns) > RACY_SECONDS * 1e9
    cache = cache_dir / f"manifest-{hashlib.sha256(str(manifest).encode()).hexdigest()[:16]}.json"
    if settled:
        found = _memo.get(stamp) or _read_cache(cache, stamp)
        if found is not None:
            _memo[stamp] = found
            return found
    try:
        data = manifest.read_bytes()
    except OSError:
        return "none", frozenset()
    found = hashlib.sha256(data).hexdigest(), frozenset(_ENV_VAR.findall(data.decode(errors="replace")))
    if settled:
        _memo[stamp] = found
        _write_cache(cache, stamp, found)
    return found


def _read_cache(cache: Path, stamp: tuple[str, int, int, int, int, int]) -> tuple[str, frozenset[str]] | None:
    try:
        held = json.loads(cache.read_text(encoding="utf-8"))
        if held["stamp"] == list(stamp):
            return str(held["sha256"]), frozenset(str(n) for n in held["env_vars"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write_cache(
    cache: Path, stamp: tuple[str, int, int, int, int, int], found: tuple[str, frozenset[str]]
) -> None:
    record = {"stamp": list(stamp), "sha256": found[0], "env_vars": sorted(found[1])}
    staging = cache.with_suffix(f".{os.getpid()}.tmp")
    with contextlib.suppress(OSError):  # only a cache: the next task hashes again
        staging.write_text(json.dumps(record), encoding="utf-8")
        staging.replace(cache)


def private_dir() -> Path:
    """A folder only this user can enter: whoever can reach a worker's socket can make it run
    dbt with this user's credentials, and a socket planted by someone else must not be trusted.
    The first of the candidates (see the module docstring) that is, or can be made, such a folder."""
    refused = []
    for folder in _candidates():
        problem = _claim(folder)
        if problem is None:
            return folder
        refused.append(f"{folder} {problem}")
    raise PermissionError(f"no private folder for the dbt worker: {'; '.join(refused)}")


def _candidates() -> list[Path]:
    found = [Path(tempfile.gettempdir()) / f"sluice-{os.getuid()}"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        found.append(Path(runtime) / "sluice")
    home = os.environ.get("AIRFLOW_HOME")
    found.append(Path(home) / "sluice-run" if home else Path.home() / ".sluice-run")
    return found


def _claim(folder: Path) -> str | None:
    """Why ``folder`` cannot be the private folder, or None once it is one."""
    if len(os.fsencode(folder)) > MAX_DIR_BYTES:
        return f"is longer than {MAX_DIR_BYTES} bytes (a Unix socket path is limited)"
    try:
        with contextlib.suppress(FileExistsError):  # then judged below, whoever made it
            folder.mkdir(mode=0o700, parents=True)
        held = folder.lstat()
    except OSError as exc:
        return f"cannot be made ({exc.strerror})"
    if not stat.S_ISDIR(held.st_mode):
        return "is not a folder"
    if held.st_uid != os.getuid():
        return f"belongs to uid {held.st_uid}"
    if held.st_mode & 0o077:
        return f"is open to other users (mode {held.st_mode & 0o777:o})"
    return None


def prune(folder: Path, now: float | None = None) -> list[Path]:
    """Remove what dead workers left: sockets nobody listens on, and logs, start locks, staging
    sockets and manifest hashes untouched for PRUNE_AFTER_SECONDS; and the scratch folders of
    workers that were killed. Returns what it removed."""
    removed = [sock for sock in folder.glob("dbt-*.sock") if _remove_dead_socket(sock)]
    oldest = (time.time() if now is None else now) - PRUNE_AFTER_SECONDS
    for item in folder.iterdir():
        stem = item.name.split(".", 1)[0]
        if item.suffix == ".sock" or (folder / f"{stem}.sock").exists():
            continue  # a live worker's log and start lock
        with contextlib.suppress(OSError):
            if item.lstat().st_mtime < oldest and _unlink_unless_locked(item):
                removed.append(item)
    return removed + _prune_scratch()


def _remove_dead_socket(sock: Path) -> bool:
    """Unlink a socket nobody listens on, holding its start lock so that no new worker can
    appear there meanwhile (a worker's socket appears only while its starter holds that lock)."""
    lock_path = sock.with_suffix(".start.lock")
    try:
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _listening(sock):
                return False
            sock.unlink(missing_ok=True)
            return True
    except OSError:  # being started right now, or not ours to touch
        return False


def _listening(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(sock))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True  # busy or slow: alive enough to keep
        return True


def _unlink_unless_locked(item: Path) -> bool:
    """Unlink ``item``; a start lock only while nobody holds it. A starter that opened it just
    before could still lock the unlinked file and start a twin worker: harmless (the socket is
    replaced atomically, the twin idles out), and only for a key unused for days."""
    if not item.name.endswith(".start.lock"):
        item.unlink()
        return True
    with item.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        item.unlink()
        return True


def _prune_scratch() -> list[Path]:
    """A SIGKILLed worker cannot remove its scratch folder (named after its pid): remove those of
    this user's workers that are gone."""
    removed = []
    for scratch in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = scratch.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        with contextlib.suppress(OSError):
            if pid.isdigit() and scratch.lstat().st_uid == os.getuid() and not _alive(int(pid)):
                shutil.rmtree(scratch)
                removed.append(scratch)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
