"""Event loads against a real S3 API (moto in server mode) and real DuckDB and PostgreSQL: what
lands is loaded once, whatever delivers it how often; a killed load leaves nothing and is
loaded again whole; bad events are quarantined with their reason; the ledger agrees with the
tables; archival deletes only the rows whose files are still in S3."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.errors import EventConfigError, EventLoadError
from tests.integration.conftest import scratch_postgres
from tests.integration.event_lake import (
    LEDGER,
    QUARANTINE,
    RAW,
    REGION,
    SCHEMA_FILE,
    Lake,
    event,
    jsonl,
    make_lake,
    s3,
)
from tests.integration.moto_server import moto_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)


@pytest.fixture(params=["duckdb", "postgres"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lake]:
    if request.param == "duckdb":
        yield from make_lake(tmp_path, "duckdb", "")
        return
    with scratch_postgres("sluice_events") as database:
        yield from make_lake(tmp_path, "postgres", database)


def test_what_lands_is_loaded_and_a_rerun_loads_only_what_landed_since(lake: Lake) -> None:
    first = lake.put("2026/05/30/a.jsonl", jsonl(event(1), event(2, "authorized")))
    lake.put("2026/05/30/b.jsonl", jsonl(event(3)))
    done = lake.load()
    assert (done.objects, done.good_rows, done.bad_rows, done.skipped) == (2, 3, 0, 0)
    assert lake.query(
        f"select _object_key, _object_etag, _record, schema_version from {RAW} order by 1, 3"
    ) == [
        ("payment_status/2026/05/30/a.jsonl", first, 1, 1),
        ("payment_status/2026/05/30/a.jsonl", first, 2, 1),
        ("payment_status/2026/05/30/b.jsonl", lake.put("2026/05/30/b.jsonl", jsonl(event(3))), 1, 1),
    ]
    again = lake.load()  # the same bytes put again keep their ETag: nothing new
    assert (again.objects, again.skipped) == (0, 2)
    lake.put("2026/05/31/c.jsonl", jsonl(event(4), event(5), event(6)))
    later = lake.load()
    assert (later.objects, later.good_rows, later.skipped) == (1, 3, 2)
    assert lake.count(RAW) == 6
    assert lake.query(f"select sum(good_rows), count(*) from {LEDGER}") == [(6, 3)]
    lake.check_ledger()


def test_a_malformed_event_lands_in_quarantine_with_its_reason(lake: Lake) -> None:
    lake.put(
        "bad.jsonl",
        jsonl(event(1), "{oops", event(2, status="lost"), event(3, amount=5), event(4, at="not a time")),
    )
    done = lake.load()
    assert (done.good_rows, done.bad_rows) == (1, 4)
    rows = lake.query(f"select _record, reason, raw from {QUARANTINE} order by _record")
    assert [(n, reason.split(":")[0]) for n, reason, _ in rows] == [
        (2, "not JSON"),
        (3, "schema v1"),
        (4, "schema v1"),
        (5, "occurred_at"),  # the schema's format: date-time is not checked; the loader checks the time
    ]
    assert "'lost' is not one of" in rows[1][1]
    assert "Additional properties are not allowed ('amount' was unexpected)" in rows[2][1]
    assert rows[0][2] == "{oops"
    assert lake.query(f"select good_rows, bad_rows from {LEDGER}") == [(1, 4)]
    lake.check_ledger()


def test_the_load_ledger_and_the_tables_agree_and_a_disagreement_is_said(lake: Lake) -> None:
    lake.put("a.jsonl", jsonl(event(1), "[]"))
    lake.load()
    lake.check_ledger()
    lake.query(f"delete from {RAW}")
    with pytest.raises(
        EventLoadError, match=r"the ledger disagrees with the tables for payment_status/a\.jsonl"
    ):
        lake.check_ledger()


LOADER = """
import sys, time, pathlib
from sluice.events.warehouse import Warehouse
from tests.integration.event_lake import Lake

lake = Lake(pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3])
mark, pause = pathlib.Path(sys.argv[4]), float(sys.argv[5])
insert = Warehouse.insert

def insert_then_wait(self, table, *args):
    insert(self, table, *args)
    if table == "raw_events.payment_status" and not mark.exists():
        mark.write_text("raw rows written, not committed")
        time.sleep(pause)

Warehouse.insert = insert_then_wait
done = lake.load()
print("LOADED", done.objects, done.good_rows, done.skipped)
"""


def loader(lake: Lake, mark: Path, pause: float) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", LOADER, str(lake.root), lake.engine, lake.bucket, str(mark), str(pause)]
    env = {**os.environ, "PYTHONPATH": str(SCHEMA_FILE.parents[3])}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the loader never wrote its rows"
        time.sleep(0.05)


def test_a_load_killed_mid_way_leaves_nothing_and_loads_again_whole(lake: Lake, tmp_path: Path) -> None:
    lake.put("a.jsonl", jsonl(*(event(n) for n in range(1, 501))))
    mark = tmp_path / "inserted"
    proc = loader(lake, mark, 600)
    wait_for(mark, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert lake.count(RAW) == 0 and lake.count(LEDGER) == 0
    done = lake.load()
    assert (done.objects, done.good_rows) == (1, 500)
    assert lake.count(RAW) == 500
    assert lake.query(f"select count(distinct _record) from {RAW}") == [(500,)]
    lake.check_ledger()


def test_the_same_objects_loaded_by_two_loads_at_once_load_once(lake: Lake, tmp_path: Path) -> None:
    """A notification delivered twice, a retry overlapping its first try: two loads of the same
    objects at the same time. The first holds its transaction open after writing its rows; the
    second waits (on the ledger's key in PostgreSQL, on the file's lock in DuckDB), then skips."""
    lake.put("a.jsonl", jsonl(event(1), event(2)))
    lake.put("b.jsonl", jsonl(event(3)))
    first = loader(lake, tmp_path / "first", 3)
    wait_for(tmp_path / "first", first)
    (tmp_path / "second").write_text("no pause")
    second = loader(lake, tmp_path / "second", 0)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [e[-2000:] for _, e in outputs]
    loaded = [next(x for x in out.splitlines() if x.startswith("LOADED")).split()[1:] for out, _ in outputs]
    assert sum(int(objects) for objects, _, _ in loaded) == 2
    assert sum(int(rows) for _, rows, _ in loaded) == 3
    assert lake.count(RAW) == 3 and lake.count(LEDGER) == 2
    lake.check_ledger()


def test_an_object_replaced_in_s3_is_a_new_object(lake: Lake) -> None:
    lake.put("a.jsonl", jsonl(event(1)))
    lake.load()
    lake.put("a.jsonl", jsonl(event(1), event(2)))
    done = lake.load()
    assert (done.objects, done.good_rows) == (1, 2)
    assert lake.query(f"select count(*), count(distinct _object_etag) from {RAW}") == [(3, 2)]
    lake.check_ledger()


def test_a_schema_version_edited_after_it_was_loaded_is_refused(lake: Lake) -> None:
    lake.put("a.jsonl", jsonl(event(1)))
    lake.load()
    schema = json.loads(SCHEMA_FILE.read_text())
    schema["properties"]["status"]["enum"].append("disputed")
    lake.replace_schema(schema)
    lake.put("b.jsonl", jsonl(event(2, "disputed")))
    with pytest.raises(
        EventConfigError, match=r"schemas\[0\]\.sha256: version 1 was loaded with schema sha256:"
    ):
        lake.load()
    assert lake.count(RAW) == 1


def test_archival_deletes_only_rows_whose_files_are_still_in_s3(lake: Lake) -> None:
    old, recent = "2026-01-10T00:00:00Z", "2026-05-30T00:00:00Z"
    kept_etag = lake.put("kept.jsonl", jsonl(event(1, at=old), event(2, at=recent)))
    lake.put("gone.jsonl", jsonl(event(3, at=old)))
    lake.put("replaced.jsonl", jsonl(event(4, at=old)))
    lake.put("young.jsonl", jsonl(event(5, at=recent)))
    lake.load()
    s3().delete_object(Bucket=lake.bucket, Key="payment_status/gone.jsonl")
    lake.put("replaced.jsonl", jsonl(event(4, at=old), event(6, at=old)))
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # hot_days 90: rows before 2026-03-03 are past it
    done = lake.archive(now)
    assert (done.rows, done.objects) == (1, 1)
    assert done.kept == {
        "payment_status/gone.jsonl": "not in S3",
        "payment_status/replaced.jsonl": "replaced in S3 since it was loaded",
    }
    remaining = [str(e) for (e,) in lake.query(f"select event->>'event_id' from {RAW} order by 1")]
    assert remaining == ["evt-2", "evt-3", "evt-4", "evt-5"]
    assert lake.query(
        f"select archived_rows from {LEDGER} where object_key = 'payment_status/kept.jsonl'"
    ) == [(1,)]
    lake.check_ledger()
    again = lake.load()  # the archived object is not loaded again; the replaced one is new
    assert (again.objects, again.good_rows) == (1, 2)
    assert lake.query(f"select count(*) from {RAW} where _object_etag = '{kept_etag}'") == [(1,)]
    assert lake.archive(now).rows == 2  # the replaced file's new version is in S3: its old rows go
    lake.check_ledger()
