"""Atomic publish on dbt-snowflake against fakesnow (a local Snowflake stand-in in server mode),
as far as fakesnow goes: it runs sluice's macros, the stage step and the staged build, and it
refuses schema SWAP, RENAME and CLONE, which only the generated-SQL unit tests cover."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import snowflake.connector
import uvicorn
from fakesnow.server import app

from sluice.errors import DbtCommandError
from sluice.runtime import zone
from sluice.runtime.dbt import DbtCall, DbtProcess
from sluice.runtime.lease import Holder
from sluice.runtime.publish import PublishError, publish_sql, stage_sql
from tests.conftest import REPO

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).parent / "atomic_project"


@pytest.fixture
def fakesnow_port() -> Iterator[int]:
    """fakesnow's server app on a free loopback port, in a thread of this process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "fakesnow did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fakesnow_port: int
) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "atomic"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("pipeline.yml"))
    shutil.copytree(REPO / "dbt" / "macros", root / "macros")
    db = f"ANALYTICS_{uuid.uuid4().hex[:8].upper()}"
    login = {"user": "fake", "password": "snow", "account": "fakesnow", "host": "127.0.0.1"}
    with snowflake.connector.connect(**login, port=fakesnow_port, protocol="http") as con:
        # fakesnow keeps its databases for the whole process: a fresh one per test
        con.cursor().execute(f"create database {db}")
    monkeypatch.setenv("FAKESNOW_PORT", str(fakesnow_port))
    monkeypatch.setenv("FAKESNOW_PASSWORD", "snow")
    monkeypatch.setenv("FAKESNOW_DATABASE", db)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(tmp_path / "unused.duckdb"))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    monkeypatch.delenv("SLUICE_DBT_TARGET", raising=False)
    yield root, db


def dbt(project: Path, command: str, select: str, dbt_vars: str | None = None) -> list[str]:
    call = DbtCall(command, (select,), project, project, "fakesnow", vars=dbt_vars)
    return DbtProcess(call).run(lambda _: None)


def test_stage_and_staged_build_run_on_dbt_snowflake(project: tuple[Path, str]) -> None:
    project, db = project
    base = DbtCall("run-operation", (), project, project, "fakesnow")
    dbt(project, "seed", "path:seeds")
    dbt(project, "run", "path:models/bronze")
    lines: list[str] = []
    zone.stage(base, "gold", ["gold"], ["gold.order_history"], Holder("atomic/run_1"), lines.append)
    assert f'sql: create schema "{db}"."GOLD__STAGING"' in lines

    built = dbt(project, "run", "path:models/gold", '{"sluice_staging": ["gold"]}')
    assert any("gold__staging.daily_totals" in line.lower() for line in built)
    wh = zone.describe(base, ["gold"], lines.append)
    assert wh.engine == "snowflake" and wh.database == db
    assert not wh.has("gold"), "live gold untouched while the zone builds"
    assert {r.name.lower() for r in wh.rels("gold__staging")} == {
        "daily_totals",
        "customer_totals",
        "order_history",
    }

    # first publish: the statement sluice sends, which fakesnow cannot run (no schema rename)
    assert publish_sql(wh, ["gold"]) == [f'alter schema "{db}"."GOLD__STAGING" rename to "{db}"."GOLD"']
    with pytest.raises(DbtCommandError, match="syntax error"):
        zone.publish(base, "gold", ["gold"], [], Holder("atomic/run_1"), lines.append)


@pytest.mark.parametrize(
    "statement",
    [
        'alter schema "ANALYTICS"."GOLD__STAGING" swap with "ANALYTICS"."GOLD"',
        'create or replace schema "ANALYTICS"."GOLD__STAGING" clone "ANALYTICS"."GOLD"',
    ],
)
def test_fakesnow_refuses_what_only_real_snowflake_proves(project: tuple[Path, str], statement: str) -> None:
    """Kept true by this test: the README says these statements are proven as SQL only."""
    project, db = project
    statement = statement.replace("ANALYTICS", db)
    base = DbtCall("run-operation", (), project, project, "fakesnow")
    zone.run_sql(base, [f"create schema {db}.gold", f"create schema {db}.gold__staging"], print)
    wh = zone.describe(base, ["gold"], print)
    assert statement in publish_sql(wh, ["gold"]) + stage_sql(wh, ["gold"], [])
    with pytest.raises(DbtCommandError):
        zone.run_sql(base, [statement], print)


def test_a_schema_name_snowflake_cannot_hold_unquoted_is_refused_after_a_safe_describe(
    project: tuple[Path, str],
) -> None:
    """The describe macro quotes the name into its literals (a backslash escapes in Snowflake's),
    then sluice refuses it with one line instead of sending Snowflake a guess."""
    project, _ = project
    base = DbtCall("run-operation", (), project, project, "fakesnow")
    name = "it's gold\\'); drop database x; --\\"
    with pytest.raises(PublishError, match="is not a plain identifier") as err:
        zone.stage(base, "gold", [name], [], Holder("atomic/run_1"), print)
    assert repr(name) in str(err.value)
