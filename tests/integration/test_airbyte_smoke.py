"""Opt-in: the client against a real Airbyte server, when AIRBYTE_URL is set (skipped otherwise).

Read-only: lists workspaces, checks the faker source definition, lists jobs. Credentials come
from the AIRBYTE_* variables, as for `sluice airbyte plan`.
"""

from __future__ import annotations

import os

import pytest

from sluice.airbyte.client import AirbyteClient, ServerSettings
from sluice.airbyte.reconcile import resolve_workspace

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("AIRBYTE_URL"), reason="set AIRBYTE_URL to smoke-test a real server"
    ),
]
FAKER = "dfd88b22-b603-4c3d-aad7-3701784586b1"


def test_real_server_answers_what_sluice_reads() -> None:
    settings = ServerSettings.from_env()
    assert settings is not None
    with AirbyteClient(settings) as client:
        workspace = resolve_workspace(client)
        definition = client.request("GET", f"/workspaces/{workspace}/definitions/sources/{FAKER}")
        assert definition["id"] == FAKER
        jobs = client.request("GET", "/jobs", params={"workspaceIds": workspace, "limit": 5})
        assert isinstance(jobs["data"], list)
        client.paged("/connections", {"workspaceIds": workspace})
