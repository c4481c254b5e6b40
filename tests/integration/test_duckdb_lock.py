"""Two dbt tasks writing one DuckDB file at once, as fresh processes or through the warm worker:
both succeed, one waits for the other."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sluice.runtime.dbt import DbtCall, DbtProcess
from tests.integration.conftest import Sandbox, query

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("execution", ["subprocess", "worker"])
def test_parallel_dbt_tasks_on_one_duckdb_file_both_succeed(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch, execution: str
) -> None:
    box = sandbox(migrate=False)
    monkeypatch.setenv("SLUICE_DUCKDB_PATH", str(box.duckdb))
    logs: dict[str, list[str]] = {"ref_merchants": [], "raw_accounts": []}
    errors: list[BaseException] = []

    def seed(name: str) -> None:
        call = DbtCall("seed", (f"fqn:payments.{name}",), box.dbt, box.dbt, "local", None, execution)
        try:
            DbtProcess(call).run(logs[name].append)
        except BaseException as exc:  # collected for the main thread to assert on
            errors.append(exc)

    threads = [threading.Thread(target=seed, args=(name,)) for name in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    waited = [name for name, lines in logs.items() if any("waiting for" in line for line in lines)]
    assert len(waited) == 1, "the second writer waited for the lock instead of failing on DuckDB's"
    counts = query(
        Path(box.duckdb),
        "select (select count(*) from raw.ref_merchants), (select count(*) from raw.raw_accounts)",
    )
    assert counts[0][0] > 0 and counts[0][1] > 0
