"""The local Airbyte sync with the real airbyte-source-faker connector (from .venv-faker, made by
`make faker-venv`) writing a real DuckDB file."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sluice.airbyte.local_connector import LocalSyncResult, StreamSelection, run_local_sync, state_file
from sluice.errors import LocalSyncError
from sluice.runtime.dbt import DbtCall, DbtProcess
from sluice.runtime.file_locks import duckdb_lock_path, exclusive
from tests.integration.conftest import Sandbox, query

pytestmark = pytest.mark.integration
USERS = StreamSelection("users", "incremental", "append")
PRODUCTS = StreamSelection("products", "full_refresh", "overwrite")


def sync(
    tmp_path: Path, config: dict[str, Any], *streams: StreamSelection, log: list[str] | None = None
) -> LocalSyncResult:
    lines = [] if log is None else log
    return run_local_sync(
        "shop", config, streams, tmp_path / "w.duckdb", "raw", tmp_path / "state", lines.append
    )


def test_first_sync_writes_typed_rows_and_the_state_file(tmp_path: Path) -> None:
    log: list[str] = []
    config = {"count": 30, "seed": 7, "records_per_slice": 10, "parallelism": 1}
    purchases = StreamSelection("purchases", "incremental", "append_dedup")
    result = sync(tmp_path, config, USERS, PRODUCTS, purchases, log=log)

    assert result.connection == "shop" and result.duration_s > 0
    assert result.rows == {"users": 30, "products": 30, "purchases": 30}
    assert {"users: 30 rows", "products: 30 rows", "purchases: 30 rows"} <= set(log)
    db = tmp_path / "w.duckdb"
    users = query(db, "select count(*), count(distinct id), min(id), max(id), count(email) from raw.users")
    assert users == [(30, 30, 1, 30, 30)]
    kinds = dict(
        query(
            db,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'purchases'",
        )
    )
    assert kinds["purchased_at"] == "TIMESTAMP WITH TIME ZONE" and kinds["product_id"] == "BIGINT"
    assert {"_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta"} <= set(kinds)
    fresh = query(db, "select max(now() - _airbyte_extracted_at) < interval 5 minute from raw.users")
    assert fresh == [(True,)]

    state = json.loads((tmp_path / "state" / "shop.json").read_text())
    by_stream = {
        s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in state["state"]
    }
    assert set(by_stream) == {"users", "purchases"}, "a full-refresh stream keeps no state"
    assert by_stream["users"]["loop_offset"] == 30 and by_stream["users"]["seed"] == 7


def test_incremental_syncs_resume_from_state_and_overwrite_replaces(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    # always_updated false: faker sends a stream's users once, then nothing while its state holds
    once = {"count": 20, "seed": 3, "parallelism": 1, "always_updated": False}
    first_log: list[str] = []
    first = sync(tmp_path, once, USERS, PRODUCTS, log=first_log)
    assert first.rows == {"users": 20, "products": 20}
    reused = "source-faker: spec and catalog as last discovered (connector and configuration unchanged)"
    assert reused not in first_log
    state_after_first = (tmp_path / "state" / "shop.json").read_text()
    first_products = {r for (r,) in query(db, "select _airbyte_raw_id from raw.products")}

    second_log: list[str] = []
    second = sync(tmp_path, once, USERS, PRODUCTS, log=second_log)
    # as an Airbyte server keeps a connection's catalog, only check runs again before read
    assert reused in second_log
    assert second.rows["users"] == 0, "the state went back to the source: nothing re-read, nothing appended"
    assert query(db, "select count(*) from raw.users") == [(20,)]
    kept = json.loads((tmp_path / "state" / "shop.json").read_text())["state"]
    assert kept == json.loads(state_after_first)["state"]

    # every user re-sent with a newer cursor, and 5 new ones: deduplicated on id, only 5 rows added
    grown = {"count": 25, "seed": 3, "parallelism": 1}
    third_log: list[str] = []
    third = sync(
        tmp_path, grown, StreamSelection("users", "incremental", "append_dedup"), PRODUCTS, log=third_log
    )
    assert reused not in third_log, "a changed configuration is discovered again"
    assert third.rows == {"users": 25, "products": 25}
    assert query(db, "select count(*), count(distinct id) from raw.users") == [(25, 25)]
    products = {r for (r,) in query(db, "select _airbyte_raw_id from raw.products")}
    assert len(products) == 25 and not products & first_products, "overwrite replaced every product row"


def test_a_bad_config_is_one_line_naming_the_connection_and_the_connectors_reason(tmp_path: Path) -> None:
    with pytest.raises(LocalSyncError) as caught:
        sync(tmp_path, {"count": "many", "seed": 1}, USERS)
    assert str(caught.value) == (
        "airbyte connection 'shop': source-faker check failed: "
        "Config validation error: 'many' is not of type 'integer'"
    )
    assert not (tmp_path / "w.duckdb").exists(), "nothing written"


def test_a_warehouse_file_that_is_no_duckdb_database_is_one_clear_line(tmp_path: Path) -> None:
    bogus = tmp_path / "w.duckdb"
    bogus.write_text("not a database")
    with pytest.raises(LocalSyncError) as caught:
        sync(tmp_path, {"count": 2, "seed": 1}, USERS)
    assert str(caught.value).startswith(f"airbyte connection 'shop': cannot write {bogus}: ")
    assert "\n" not in str(caught.value)


def test_an_unknown_stream_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(
        LocalSyncError, match=r"'shop': stream 'orders' is not offered by the source \(it offers"
    ):
        sync(tmp_path, {"count": 5}, StreamSelection("orders", "full_refresh", "overwrite"))


def test_dbt_and_ingestion_on_one_duckdb_file_take_turns(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    box = sandbox(migrate=False)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(box.duckdb))
    call = DbtCall("seed", ("fqn:payments.raw_accounts",), box.dbt, box.dbt, "local", None, "subprocess")
    assert call.lock_path() == duckdb_lock_path(box.duckdb), "dbt locks the file the sync writes"
    config = {"count": 10, "seed": 1, "parallelism": 1}
    lines: dict[str, list[str]] = {"dbt": [], "sync": []}
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            run_local_sync(
                "shop", config, [USERS], box.duckdb, "raw", box.root / "state", lines["sync"].append
            )
        except BaseException as exc:  # collected for the main thread to assert on
            errors.append(exc)

    def seed() -> None:
        try:
            DbtProcess(call).run(lines["dbt"].append)
        except BaseException as exc:
            errors.append(exc)

    # while a dbt task holds the file, the sync waits instead of failing on DuckDB's own lock
    with exclusive(duckdb_lock_path(box.duckdb), lambda _: None):
        waiting = threading.Thread(target=ingest)
        waiting.start()
        deadline = time.monotonic() + 120
        while not any("waiting for" in line for line in lines["sync"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any("waiting for" in line for line in lines["sync"]), lines["sync"]
        assert waiting.is_alive() and not box.duckdb.exists()
    waiting.join(120)
    assert not errors, errors
    assert "users: 10 rows" in lines["sync"]

    # and both at once, for real: each succeeds, one after the other
    lines = {"dbt": [], "sync": []}
    threads = [threading.Thread(target=ingest), threading.Thread(target=seed)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    counts = query(
        box.duckdb, "select (select count(*) from raw.users), (select count(*) from raw.raw_accounts)"
    )
    assert counts[0][0] == 20 and counts[0][1] > 0


def test_a_second_sync_of_a_connection_waits_for_the_first_instead_of_failing(tmp_path: Path) -> None:
    """Two runs triggered seconds apart both ingest: the second sync waits for the first and
    then reads on from its state."""
    config = {"count": 12, "seed": 5, "parallelism": 1, "always_updated": False}
    results: list[LocalSyncResult] = []
    errors: list[BaseException] = []
    logs: list[list[str]] = [[], []]

    def second(log: list[str]) -> None:
        try:
            results.append(sync(tmp_path, config, USERS, log=log))
        except BaseException as exc:  # collected for the main thread to assert on
            errors.append(exc)

    # a first sync holds the connection: the second says why it waits, and waits
    (tmp_path / "state").mkdir()
    with exclusive(state_file(tmp_path / "state", "shop").with_suffix(".lock"), lambda _: None):
        waiting = threading.Thread(target=second, args=(logs[0],))
        waiting.start()
        deadline = time.monotonic() + 60
        while not logs[0] and not errors and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not errors, errors
        assert logs[0][0].endswith(
            "a sync of airbyte connection 'shop' is already running; this one waits for it"
        )
        time.sleep(0.5)
        assert waiting.is_alive() and not (tmp_path / "w.duckdb").exists()
    waiting.join(120)
    assert not errors, errors

    # and two real syncs at once: both succeed, the later one reading on from the earlier's state
    threads = [threading.Thread(target=second, args=(log,)) for log in ([], logs[1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert sorted(r.rows["users"] for r in results) == [0, 0, 12]
    assert query(tmp_path / "w.duckdb", "select count(*), count(distinct id) from raw.users") == [(12, 12)]


def _children_reading() -> list[int]:
    """This process's children that are a connector's ``read``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"source_faker.run" in cmdline and b"read" in cmdline:
            found.append(int(proc.name))
    return found


def test_a_killed_sync_stops_its_connector_and_keeps_rows_and_state_together(tmp_path: Path) -> None:
    """An Airflow timeout raises in the task's thread mid-read: the connector is stopped, the
    committed rows are exactly those the committed state covers, and the next sync goes on."""
    config = {"count": 3000, "seed": 5, "records_per_slice": 100, "parallelism": 1}
    state_path = tmp_path / "state" / "shop.json"

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError("the task timed out")

    def time_out_after_a_checkpoint() -> None:
        deadline = time.monotonic() + 120
        while not state_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGALRM)  # handled in the main thread, inside the read

    previous = signal.signal(signal.SIGALRM, on_alarm)
    watcher = threading.Thread(target=time_out_after_a_checkpoint, daemon=True)
    watcher.start()
    try:
        # raised between two statements it is the timeout itself; inside a DuckDB statement,
        # DuckDB interrupts the query and raises its own RuntimeError instead
        with pytest.raises((TimeoutError, RuntimeError)):
            run_local_sync("shop", config, [USERS], tmp_path / "w.duckdb", "raw", tmp_path / "state", print)
    finally:
        watcher.join(130)
        signal.signal(signal.SIGALRM, previous)
    assert _children_reading() == [], "the connector went down with the task"
    db = tmp_path / "w.duckdb"
    (rows,) = query(db, "select count(*) from raw.users")[0]
    (committed,) = query(db, "select state from raw._sluice_airbyte_state where stream = 'users'")[0]
    offset = json.loads(str(committed))["stream"]["stream_state"]["loop_offset"]
    assert 0 < rows < 3000, "interrupted mid-read, after some checkpoints"
    assert rows % 100 == 0, (
        "rows are committed at the source's checkpoints (every 100 records), never between"
    )
    # faker 7.2.1 checkpoints after every 100 records with the state of the slice before (it
    # updates its state when the next slice starts): the rows committed are those sent before
    # the committed state message, no more, no fewer
    assert offset == rows - 100
    assert query(db, "select count(distinct id), max(id) from raw.users") == [(rows, rows)]
    # the file mirrors the committed state after each commit; killed in between, it lags behind
    mirrored = json.loads(state_path.read_text())["state"][0]["stream"]["stream_state"]["loop_offset"]
    assert mirrored <= offset

    again = run_local_sync("shop", config, [USERS], db, "raw", tmp_path / "state", lambda _: None)
    assert again.rows == {"users": 3000}
    assert json.loads(state_path.read_text())["state"][0]["stream"]["stream_state"]["loop_offset"] == 3000
