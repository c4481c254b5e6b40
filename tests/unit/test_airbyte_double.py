"""The API double itself: its answers fit the SDK's response models, and its checks bite."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from airbyte_api import models as sdk

from tests.airbyte_double import contract
from tests.airbyte_double.observed import sync_already_running
from tests.airbyte_double.server import FAKER, AirbyteDouble, serve

API = "/api/public/v1"


@pytest.fixture
def airbyte() -> Iterator[AirbyteDouble]:
    yield from serve()


def test_contract_check_catches_a_wrong_answer() -> None:
    good = {"jobId": 1, "status": "queued", "jobType": "sync", "startTime": "t", "connectionId": "c"}
    assert contract.check(contract.RESPONSES, "GET", "/jobs/{id}", good) is None
    wrong_status = contract.check(contract.RESPONSES, "GET", "/jobs/{id}", {**good, "status": "waiting"})
    assert wrong_status is not None and "status" in wrong_status
    missing = contract.check(
        contract.RESPONSES, "GET", "/jobs/{id}", {k: v for k, v in good.items() if k != "jobType"}
    )
    assert missing is not None and "jobType" in missing
    extra = contract.check(contract.RESPONSES, "GET", "/jobs/{id}", {**good, "job_id": 1})
    assert extra is not None and ".job_id" in extra
    nested = {"data": [{**good, "connection": "c"}]}
    assert ".data[0].connection" in str(contract.check(contract.RESPONSES, "GET", "/jobs", nested))


def test_every_documented_job_status_is_one_the_sdk_knows() -> None:
    from sluice.airbyte.sync import ENDED_BADLY, IN_PROGRESS, SUCCEEDED

    assert {e.value for e in sdk.JobStatusEnum} == {*IN_PROGRESS, SUCCEEDED, *ENDED_BADLY}


def test_double_answers_fit_the_contract_through_a_job_lifecycle(airbyte: AirbyteDouble) -> None:
    with httpx.Client(base_url=airbyte.url + API) as http:
        ws = http.get("/workspaces").json()["data"][0]["workspaceId"]
        src = http.post(
            "/sources",
            json={"name": "s", "workspaceId": ws, "definitionId": FAKER, "configuration": {"count": 1}},
        ).json()
        dst = http.post(
            "/destinations",
            json={
                "name": "d",
                "workspaceId": ws,
                "definitionId": "25c5221d-dce2-4163-ade9-739ef790f503",
                "configuration": {"host": "h", "password": "p"},
            },
        ).json()
        assert dst["configuration"]["password"] == "**********"
        conn = http.post(
            "/connections",
            json={"name": "c", "sourceId": src["sourceId"], "destinationId": dst["destinationId"]},
        ).json()
        job = http.post("/jobs", json={"connectionId": conn["connectionId"], "jobType": "sync"}).json()
        statuses = [http.get(f"/jobs/{job['jobId']}").json()["status"] for _ in range(4)]
        assert [job["status"], *statuses] == ["pending", "queued", "running", "running", "succeeded"]
        second = http.post("/jobs", json={"connectionId": conn["connectionId"], "jobType": "sync"}).json()
        again = http.post("/jobs", json={"connectionId": conn["connectionId"], "jobType": "sync"})
        assert again.status_code == 409
        assert again.json() == sync_already_running(conn["connectionId"])
        listed = http.get("/jobs", params={"connectionId": conn["connectionId"], "status": "pending"}).json()
        assert [j["jobId"] for j in listed["data"]] == [second["jobId"]]
        cancelled = http.delete(f"/jobs/{second['jobId']}").json()
        assert cancelled["status"] == "cancelled"
        assert http.get("/jobs/999").status_code == 404
        assert http.get(f"/sources/{'0' * 8}-0000-0000-0000-{'0' * 12}").status_code == 404
    assert airbyte.drift == []


def test_double_refuses_missing_credentials(airbyte: AirbyteDouble) -> None:
    airbyte.credentials = ("id", "secret")
    with httpx.Client(base_url=airbyte.url) as http:
        assert http.get(API + "/workspaces").status_code == 401
        refused = http.post("/api/v1/applications/token", json={"client_id": "id", "client_secret": "no"})
        assert refused.status_code == 401
        token = http.post("/api/v1/applications/token", json={"client_id": "id", "client_secret": "secret"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert http.get(API + "/workspaces", headers=headers).status_code == 200


def test_sdk_models_rewrite_a_raw_configuration() -> None:
    """Why sluice never sends a configuration through the SDK: its typed request model turns the
    faker configuration into SourceFaker and adds fields the YAML never said."""
    raw = {"count": 1000, "seed": 42, "records_per_slice": 500}
    typed = sdk.SourceCreateRequest(configuration=raw, name="x", workspace_id="w")
    sent = typed.model_dump(by_alias=True, mode="json")["configuration"]
    assert type(typed.configuration).__name__ == "SourceFaker"
    assert set(sent) - set(raw), sent
