"""A zone build's results survive an XCom write the API server refused once (a 409 when Airflow's
client sent a slow write again): the write is made again, and only a refusal that lasts fails."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
from airflow.sdk.execution_time.comms import ErrorResponse

from sluice.airflow import operators
from sluice.runtime.node_results import HEAD_KEY, Outbox, chunk_key

pytestmark = pytest.mark.unit

CONFLICT = ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": 409})


class Ti:
    """A task instance whose API server refuses the first ``refusals`` writes."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        if self.refusals:
            self.refusals -= 1
            raise AirflowRuntimeError(CONFLICT)
        self.xcoms[key] = value


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operators.time, "sleep", lambda seconds: None)


def test_a_refused_write_is_made_again_and_nothing_is_lost(caplog: pytest.LogCaptureFixture) -> None:
    ti = Ti(refusals=2)
    outbox = Outbox(operators.xcom_writer(ti, logging.getLogger("t")), 1)
    outbox.add("fqn:shop.orders", {"status": "success"})
    outbox.flush()
    assert ti.xcoms[chunk_key(0)] == {"fqn:shop.orders": {"status": "success"}}
    assert ti.xcoms[HEAD_KEY] == {"chunks": 1, "try": 1}
    assert caplog.text.count("XCom dbt_results not written (API_SERVER_ERROR") == 2


def test_a_refusal_that_lasts_fails_the_build() -> None:
    ti = Ti(refusals=len(operators.XCOM_RETRY_SECONDS) + 1)
    with pytest.raises(AirflowRuntimeError):
        operators.xcom_writer(ti, logging.getLogger("t"))(HEAD_KEY, {"chunks": 0, "try": 1})
    assert ti.xcoms == {}
