"""The ledger's transaction on a real DuckDB file (in process): an object's rows, quarantined
events and ledger row are written together, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.errors import EventConfigError
from sluice.events.config import StreamFile, load_streams
from sluice.events.event_check import Checked, Rejected, Row
from sluice.events.ledger import S3Object, check_schema_hashes, ensure_tables, loaded_objects, write_object
from sluice.events.warehouse import open_warehouse
from tests.conftest import REPO


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "dbt_project.yml").write_text("name: t\nprofile: t\n")
    (tmp_path / "profiles.yml").write_text(
        "t:\n  outputs:\n    local:\n      type: duckdb\n      path: \"{{ env_var('EVENTS_DB') }}\"\n"
    )
    return tmp_path


@pytest.fixture
def stream() -> StreamFile:
    return load_streams(REPO / "event_streams").stream("payment_status")


def checked(n: int, bad: int = 0) -> Checked:
    rows = [Row(i, 1, "2026-05-30T10:00:00+00:00", f'{{"event_id": "e{i}"}}') for i in range(1, n + 1)]
    rejected = [Rejected(n + i, "not JSON: x", "{x") for i in range(1, bad + 1)]
    return Checked(rows, rejected)


def test_an_object_is_written_once_with_its_ledger_row(
    project: Path, stream: StreamFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTS_DB", str(tmp_path / "w.duckdb"))
    obj = S3Object("payment_status/a.jsonl", "abc", 10)
    with open_warehouse(project, project, "local", print) as wh:
        ensure_tables(wh, stream)
        assert write_object(wh, stream, obj, checked(3, bad=1)) is True
        assert write_object(wh, stream, obj, checked(3, bad=1)) is False
        assert loaded_objects(wh, stream) == {(obj.key, obj.etag)}
        with wh.transaction():
            assert wh.execute("select count(*) from raw_events.payment_status") == [(3,)]
            assert wh.execute("select _record, reason from raw_events.payment_status_quarantine") == [
                (4, "not JSON: x")
            ]
            ledger = "select good_rows, bad_rows, archived_rows from raw_events._sluice_event_loads"
            assert wh.execute(ledger) == [(3, 1, 0)]
    assert (tmp_path / ".w.duckdb.sluice.lock").exists()  # written under sluice's DuckDB lock


def test_a_failure_inside_the_transaction_leaves_neither_rows_nor_ledger(
    project: Path, stream: StreamFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTS_DB", str(tmp_path / "w.duckdb"))
    broken = Checked([Row(1, 1, "not a time", "{}")], [])
    with open_warehouse(project, project, "local", print) as wh:
        ensure_tables(wh, stream)
        with pytest.raises(Exception, match="timestamp"):
            write_object(wh, stream, S3Object("k", "e", 1), broken)
        assert loaded_objects(wh, stream) == set()
        assert write_object(wh, stream, S3Object("k", "e", 1), checked(2)) is True


def test_a_version_loaded_under_another_hash_is_refused(
    project: Path, stream: StreamFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTS_DB", str(tmp_path / "w.duckdb"))
    with open_warehouse(project, project, "local", print) as wh:
        ensure_tables(wh, stream)
        check_schema_hashes(wh, stream)
        check_schema_hashes(wh, stream)  # the same hash again is fine
        edited = stream.stream.model_copy(
            update={
                "schemas": (stream.stream.schemas[0].model_copy(update={"sha256": "sha256:" + "0" * 64}),)
            }
        )
        other = StreamFile(stream.path, edited, stream.lines, stream.schemas)
        recorded = str(stream.stream.schemas[0].sha256)
        with pytest.raises(
            EventConfigError, match=f"version 1 was loaded with schema {recorded}, and is now"
        ):
            check_schema_hashes(wh, other)
