"""Check the double's answers against the ``airbyte-api`` SDK's own response models.

The SDK is generated from the public API's OpenAPI description, so a response that these models
accept (with no key they do not know) has the shape the real server documents. Two departures,
both deliberate:

- ``configuration`` is checked as a JSON object, not as the SDK's union of ~555 connector models:
  that union coerces a dict into whichever model fits first (adding defaults, renaming fields),
  which is the very trap sluice avoids; the double stores and returns what the client sent.
- Error bodies (401, 404, 409) are not in the description's response models; their shape is
  the one observed on real servers, see ``observed.py``.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from airbyte_api import models as sdk
from pydantic import BaseModel, ConfigDict


class SourceResponse(sdk.SourceResponse):
    configuration: dict[str, Any]  # type: ignore[assignment]


class DestinationResponse(sdk.DestinationResponse):
    configuration: dict[str, Any]  # type: ignore[assignment]


class SourcesResponse(sdk.SourcesResponse):
    data: list[SourceResponse]  # type: ignore[assignment]


class DestinationsResponse(sdk.DestinationsResponse):
    data: list[DestinationResponse]  # type: ignore[assignment]


class AccessTokenResponse(BaseModel):
    """PublicAccessTokenResponse of the description's Applications API (not in the SDK, which
    reads the token itself): all three keys required, token_type Bearer."""

    model_config = ConfigDict(extra="forbid")
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


#: response model per (method, route template) of the double
RESPONSES: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", "/applications/token"): AccessTokenResponse,
    ("GET", "/workspaces"): sdk.WorkspacesResponse,
    ("GET", "/workspaces/{id}"): sdk.WorkspaceResponse,
    ("GET", "/workspaces/{id}/definitions/sources/{id}"): sdk.DefinitionResponse,
    ("GET", "/workspaces/{id}/definitions/destinations/{id}"): sdk.DefinitionResponse,
    ("GET", "/sources"): SourcesResponse,
    ("POST", "/sources"): SourceResponse,
    ("GET", "/sources/{id}"): SourceResponse,
    ("PUT", "/sources/{id}"): SourceResponse,
    ("PATCH", "/sources/{id}"): SourceResponse,
    ("GET", "/destinations"): DestinationsResponse,
    ("POST", "/destinations"): DestinationResponse,
    ("GET", "/destinations/{id}"): DestinationResponse,
    ("PUT", "/destinations/{id}"): DestinationResponse,
    ("PATCH", "/destinations/{id}"): DestinationResponse,
    ("GET", "/connections"): sdk.ConnectionsResponse,
    ("POST", "/connections"): sdk.ConnectionResponse,
    ("GET", "/connections/{id}"): sdk.ConnectionResponse,
    ("PATCH", "/connections/{id}"): sdk.ConnectionResponse,
    ("GET", "/jobs"): sdk.JobsResponse,
    ("POST", "/jobs"): sdk.JobResponse,
    ("GET", "/jobs/{id}"): sdk.JobResponse,
    ("DELETE", "/jobs/{id}"): sdk.JobResponse,
}

#: request body model per route: what the client sends must be a body the API describes
REQUESTS: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", "/jobs"): sdk.JobCreateRequest,
    ("POST", "/connections"): sdk.ConnectionCreateRequest,
    ("PATCH", "/connections/{id}"): sdk.ConnectionPatchRequest,
}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (list, typing.Union, types.UnionType, dict):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def unknown_keys(model: type[BaseModel], data: Any, where: str = "") -> list[str]:
    """Keys of ``data`` that ``model`` (and its nested models) do not declare."""
    if isinstance(data, list):
        return [k for i, item in enumerate(data) for k in unknown_keys(model, item, f"{where}[{i}]")]
    if not isinstance(data, dict):
        return []
    found: list[str] = []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            found.append(f"{where}.{key}")
            continue
        if key == "configuration":
            continue  # free-form per connector, see the module docstring
        for nested in _models_in(field.annotation):
            found.extend(unknown_keys(nested, value, f"{where}.{key}"))
    return found


def check(table: dict[tuple[str, str], type[BaseModel]], method: str, route: str, body: Any) -> str | None:
    """None when ``body`` fits the documented model of ``route``, else what is wrong."""
    model = table.get((method, route))
    if model is None:
        return None
    try:
        model.model_validate(body)
    except Exception as exc:
        return f"{method} {route}: {exc}"
    extra = unknown_keys(model, body)
    return f"{method} {route}: keys the API does not describe: {extra}" if extra else None
