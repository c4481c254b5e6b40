"""Where warm dbt workers live and what keys them: a folder no other user can deny or plant a
socket in, one worker per manifest content and per environment the profile reads, and the
leftovers of dead workers pruned."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.runtime import dbt_worker_home
from sluice.runtime.dbt_worker_home import private_dir, prune, socket_path
from tests.conftest import DEMO_MANIFEST

DBT_DIR = DEMO_MANIFEST.parents[1]
NOBODY = pwd.getpwnam("nobody").pw_uid


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temp folder, runtime folder and Airflow home of this test's own, at a path short enough
    for a Unix socket (pytest's own tmp_path is too long)."""
    tmp_path = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "af"))
    (tmp_path / "run").mkdir(mode=0o700)
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_private_folder_is_under_tmp_with_mode_700(home: Path) -> None:
    folder = private_dir()
    assert folder == home / "tmp" / f"sluice-{os.getuid()}"
    assert folder.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to hand a folder to another user")
def test_a_folder_taken_by_another_user_falls_back_to_the_runtime_folder(home: Path) -> None:
    taken = home / "tmp" / f"sluice-{os.getuid()}"
    taken.mkdir(mode=0o700)
    os.chown(taken, NOBODY, -1)
    path = socket_path(DBT_DIR, DBT_DIR, "local", sys.executable)
    assert path.parent == home / "run" / "sluice"
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert len(os.fsencode(path)) < 100


def test_an_open_folder_falls_back_and_then_airflow_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "tmp" / f"sluice-{os.getuid()}").mkdir(mode=0o777)
    (home / "tmp" / f"sluice-{os.getuid()}").chmod(0o777)
    assert private_dir() == home / "run" / "sluice"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert private_dir() == home / "af" / "sluice-run"


def test_no_private_folder_is_one_clear_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "tmp" / f"sluice-{os.getuid()}").write_text("not a folder")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("AIRFLOW_HOME", "/" + "x" * 80)
    with pytest.raises(PermissionError, match=r"no private folder for the dbt worker: .* is not a folder; "):
        private_dir()


def _project(root: Path, profile_path: str = "{{ env_var('SLUICE_DUCKDB_PATH', 'x.duckdb') }}") -> Path:
    (root / "target").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    (root / "profiles.yml").write_text(
        "p:\n  outputs:\n"
        f'    local: {{type: duckdb, path: "{profile_path}"}}\n'
        "    prod: {type: snowflake, account: \"{{ env_var('SNOWFLAKE_ACCOUNT') }}\"}\n"
    )
    (root / "target" / "manifest.json").write_text('{"nodes": {"a": 1}}')
    return root


def test_worker_socket_follows_the_environment_the_profile_reads(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(home / "p")
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", "/data/a.duckdb")
    first = socket_path(project, project, "local", sys.executable)
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "unused by the local target")
    assert socket_path(project, project, "local", sys.executable) == first
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", "/data/b.duckdb")
    assert socket_path(project, project, "local", sys.executable) != first
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", "/data/a.duckdb")
    assert socket_path(project, project, "local", sys.executable) == first
    monkeypatch.setenv("DBT_TARGET_PATH", "elsewhere")  # dbt's own settings count too
    assert socket_path(project, project, "local", sys.executable) != first


def test_a_duckdb_file_named_at_render_time_still_keys_the_worker(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(home / "p", profile_path="{{ env_var('SLUICE_' ~ 'DB', 'x.duckdb') }}")
    monkeypatch.setenv("SLUICE_DB", "/data/a.duckdb")
    first = socket_path(project, project, "local", sys.executable)
    monkeypatch.setenv("SLUICE_DB", "/data/b.duckdb")
    assert socket_path(project, project, "local", sys.executable) != first


def test_env_vars_read_by_the_project_code_key_the_worker(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(home / "p")
    manifest = project / "target" / "manifest.json"
    code = "select '{{ env_var(\"REGION\") }}' as region"
    manifest.write_text(json.dumps({"nodes": {"model.p.a": {"raw_code": code}}}))
    monkeypatch.setenv("REGION", "eu")
    first = socket_path(project, project, "local", sys.executable)
    monkeypatch.setenv("REGION", "us")
    assert socket_path(project, project, "local", sys.executable) != first


def test_secret_values_are_never_written(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbt_worker_home, "RACY_SECONDS", 0.1)
    project = _project(home / "p")
    time.sleep(0.2)  # a settled manifest: its hash is cached in the private folder
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "s3cr3t-account-value")
    path = socket_path(project, project, "prod", sys.executable)
    written = b"".join(p.read_bytes() for p in path.parent.rglob("*") if p.is_file())
    assert any(path.parent.iterdir()), "the manifest hash was cached"
    assert b"s3cr3t-account-value" not in written + os.fsencode(path)


def test_worker_socket_follows_the_manifest_content(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new parse of the same size within one mtime tick still means a new worker."""
    monkeypatch.setattr(dbt_worker_home, "RACY_SECONDS", 0.2)
    project = _project(home / "p")
    manifest = project / "target" / "manifest.json"
    stamp = manifest.stat()
    first = socket_path(project, project, "local", sys.executable)
    manifest.write_text('{"nodes": {"b": 1}}')  # same size
    os.utime(manifest, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert manifest.stat().st_size == stamp.st_size
    second = socket_path(project, project, "local", sys.executable)
    assert second != first
    time.sleep(0.3)  # settled now: the hash is cached, and the cache still sees the next change
    assert socket_path(project, project, "local", sys.executable) == second
    manifest.write_text('{"nodes": {"a": 1}}')
    os.utime(manifest, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert socket_path(project, project, "local", sys.executable) == first
    assert socket_path(project, project, "prod", sys.executable) != first


def _dead_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))  # closed without unlink: what a SIGKILLed worker leaves


def test_prune_removes_what_dead_workers_left(home: Path) -> None:
    folder = private_dir()
    _dead_socket(folder / "dbt-dead.sock")
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(folder / "dbt-live.sock"))
    live.listen(1)
    for name in ("dbt-live.log", "dbt-live.start.lock", "dbt-old.log", "dbt-old.start.lock", "dbt-new.log"):
        (folder / name).write_text("x")
    for name in ("dbt-live.log", "dbt-old.log", "dbt-old.start.lock"):
        os.utime(folder / name, (time.time() - 4 * 86400,) * 2)
    dead_pid = _exited_pid()
    (home / "tmp" / f"sluice-worker-{dead_pid}-abc").mkdir()
    (home / "tmp" / f"sluice-worker-{os.getpid()}-abc").mkdir()
    try:
        removed = {p.name for p in prune(folder)}
    finally:
        live.close()
    assert removed == {"dbt-dead.sock", "dbt-old.log", "dbt-old.start.lock", f"sluice-worker-{dead_pid}-abc"}
    assert {p.name for p in folder.iterdir()} >= {"dbt-live.sock", "dbt-live.log", "dbt-new.log"}
    assert (home / "tmp" / f"sluice-worker-{os.getpid()}-abc").exists()


def _exited_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_prune_keeps_a_socket_being_started(home: Path) -> None:
    import fcntl

    folder = private_dir()
    _dead_socket(folder / "dbt-k.sock")
    with (folder / "dbt-k.start.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert prune(folder) == []
    assert [p.name for p in prune(folder)] == ["dbt-k.sock"]
