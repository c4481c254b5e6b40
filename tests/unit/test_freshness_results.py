"""How a freshness task reads dbt's results: sources.json as dbt 1.11 writes it, and dbt's lines
for a source it could not check (which sources.json leaves out)."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.runtime.freshness import ERROR, PASS, RUNTIME_ERROR, WARN, SourceAge, _unreported, read_ages

HOUR = 3600.0
RULE = {"warn_after": {"count": 24, "period": "hour"}, "error_after": {"count": 3, "period": "day"}}


def result(table: str, status: str, age: float) -> dict[str, Any]:
    """One row of sources.json (dbt 1.11, schema sources/v3)."""
    return {
        "unique_id": f"source.payments.shop.{table}",
        "max_loaded_at": "2026-11-30T18:42:40.871347+00:00",
        "snapshotted_at": "2026-12-02T00:42:47.101000+00:00",
        "max_loaded_at_time_ago_in_s": age,
        "status": status,
        "criteria": {**RULE, "filter": None},
        "adapter_response": {"_message": "OK"},
        "timing": [],
        "thread_id": "Thread-1",
        "execution_time": 0.07,
    }


ARTIFACT = {
    "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json"},
    "results": [
        result("users", PASS, 1 * HOUR),
        result("products", WARN, 30 * HOUR),
        result("purchases", ERROR, 100 * HOUR),
    ],
    "elapsed_time": 0.4,
}


def test_each_source_is_said_against_the_threshold_it_crossed() -> None:
    ages = {a.source: a for a in read_ages(ARTIFACT)}
    assert [ages[s].status for s in ("shop.users", "shop.products", "shop.purchases")] == [PASS, WARN, ERROR]
    assert ages["shop.users"].describe().endswith(": fresh (warn_after 24 hours, error_after 3 days)")
    assert ages["shop.products"].describe() == (
        "source shop.products is 30.0 hours old (newest row loaded at 2026-11-30T18:42:40.871347+00:00), "
        "past warn_after 24 hours; error_after 3 days"
    )
    # measured in the threshold's own period: 100 hours against 3 days
    assert ages["shop.purchases"].describe() == (
        "source shop.purchases is 4.2 days old (newest row loaded at 2026-11-30T18:42:40.871347+00:00), "
        "past error_after 3 days"
    )


def test_a_source_with_only_error_after_is_aged_in_its_period() -> None:
    row = result("users", PASS, 90.0)
    row["criteria"] = {
        "warn_after": {"count": None, "period": None},
        "error_after": {"count": 1, "period": "minute"},
    }
    (age,) = read_ages({"results": [row]})
    assert (
        "is 1.5 minutes old" in age.describe() and "warn_after none, error_after 1 minute" in age.describe()
    )


@pytest.mark.parametrize("artifact", [{}, {"results": None}, {"results": [None, {"status": "pass"}]}])
def test_an_artifact_without_results_reads_as_none(artifact: dict[str, Any]) -> None:
    assert read_ages(artifact) == []


# what `dbt source freshness` prints for a source it cannot read: a line in a process's output,
# a multi-line message in the warm worker's
PROCESS_LINES = [
    "00:43:44  1 of 2 ERROR freshness of shop.users ......... [ERROR in 0.14s]",
    "00:43:45    Runtime Error in source users (models/bronze/_sources.yml)",
    "Catalog Error: Table with name users does not exist!",
    'Did you mean "purchases"?',
]
WORKER_LINES = [
    "Runtime Error in source users (models/bronze/_sources.yml)\n"
    '  Catalog Error: Table with name users does not exist!\n  Did you mean "purchases"?'
]


@pytest.mark.parametrize("lines", [PROCESS_LINES, WORKER_LINES])
def test_a_source_dbt_could_not_check_is_named_with_dbts_reason(lines: list[str]) -> None:
    selected = ("source:payments.shop.users", "source:payments.shop.products")
    measured = [SourceAge("shop.products", WARN)]
    (missing,) = _unreported(selected, measured, lines)
    assert missing.status == RUNTIME_ERROR
    assert missing.describe() == (
        "source shop.users: dbt could not check its freshness: "
        "Catalog Error: Table with name users does not exist!"
    )


def test_no_source_is_blamed_when_dbt_names_none() -> None:
    lines = ["Encountered an error:", "Database Error: could not connect"]
    assert _unreported(("source:payments.shop.users",), [], lines) == []
