"""Server behaviour the public API description does not document, as seen on real servers.

- 409 on ``POST /jobs`` while a sync of the connection is running. Body as reported from a
  real server in constructorfabric/insight#1923 ("Airbyte API error 409: {"message":"A sync is
  already running for: <connection-id>","exceptionClassName":"io.airbyte.commons.server.errors.
  ValueConflictKnownException"}") and, for the older config API, airbytehq/airbyte#25920.
- ``POST /jobs`` answering after 30-130 s on a loaded server (sluice issue 5, seen on a
  self-hosted instance): the job exists on the server before the answer arrives, so a client
  that timed out must look for it instead of posting again.
- Secrets in a returned configuration are masked as ten asterisks (Airbyte's
  ``SECRETS_MASK``), whatever their length.
"""

from __future__ import annotations

from typing import Any

SECRET_MASK = "**********"


def sync_already_running(connection_id: str) -> dict[str, Any]:
    return {
        "message": f"A sync is already running for: {connection_id}",
        "exceptionClassName": "io.airbyte.commons.server.errors.ValueConflictKnownException",
    }


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """The public API's problem body (type, title, status, detail) for 401, 404 and 400."""
    return {
        "type": f"https://reference.airbyte.com/reference/errors#{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
