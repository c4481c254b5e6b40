"""The Airbyte public API (``/api/public/v1``) on plain httpx, blocking and async.

Configurations go out as raw JSON, never through the ``airbyte-api`` SDK's typed models: those
coerce a configuration dict into the first of ~555 connector models that fits and add, drop or
rename fields on the way. What the YAML says is what the server gets.

Reads (GET) and idempotent writes (PUT, PATCH, DELETE) are retried with backoff on a 5xx, a
timeout or a refused connection. A POST is never retried: a second ``POST /jobs`` would start a
second sync, a second ``POST /sources`` a second source; callers decide what a lost POST means.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from sluice.errors import AirbyteError
from sluice.settings import settings

API_PATH = "/api/public/v1"
TOKEN_PATH = "/api/v1/applications/token"  # noqa: S105 (a URL path)
#: ``POST /jobs`` has been seen taking 30-130 s on a loaded server
CREATE_JOB_TIMEOUT_S = 150.0
REQUEST_TIMEOUT_S = 30.0


class AirbyteApiError(AirbyteError):
    """The server answered with an error status, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        self.status = status
        self.body = body
        super().__init__(message)


class AirbyteTimeout(AirbyteApiError):
    """No answer within the client timeout (the request may still be running on the server)."""


class AirbyteUnreachable(AirbyteApiError):
    """No connection could be made to the server."""


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    token_url: str


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ServerSettings:
    """Where the server is and how to sign in; secrets are kept out of ``repr``."""

    url: str
    auth: ClientCredentials | BasicAuth | None = None
    workspace_id: str | None = None

    @property
    def api_url(self) -> str:
        return self.url + API_PATH

    @staticmethod
    def root(url: str) -> str:
        url = url.strip().rstrip("/")
        return url.removesuffix(API_PATH).rstrip("/")

    @classmethod
    def build(
        cls,
        url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        workspace_id: str | None = None,
        source: str = "environment",
    ) -> ServerSettings:
        root = cls.root(url)
        if not urlsplit(root).scheme or not urlsplit(root).netloc:
            raise AirbyteError(f"Airbyte server URL {url!r} (from the {source}) is not an http(s) URL")
        auth: ClientCredentials | BasicAuth | None = None
        if client_id or client_secret:
            if not (client_id and client_secret):
                raise AirbyteError(
                    f"Airbyte client credentials need both a client id and a secret ({source})"
                )
            auth = ClientCredentials(client_id, client_secret, token_url or root + TOKEN_PATH)
        elif username or password:
            auth = BasicAuth(username or "", password or "")
        return cls(root, auth, workspace_id or None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings | None:
        """From AIRBYTE_URL, AIRBYTE_CLIENT_ID/SECRET (+ AIRBYTE_TOKEN_URL) or AIRBYTE_USERNAME/
        PASSWORD, and AIRBYTE_WORKSPACE_ID; None when AIRBYTE_URL is not set."""
        env = settings().airbyte_server if env is None else env
        url = env.get("AIRBYTE_URL")
        if not url:
            return None
        return cls.build(
            url,
            client_id=env.get("AIRBYTE_CLIENT_ID"),
            client_secret=env.get("AIRBYTE_CLIENT_SECRET"),
            token_url=env.get("AIRBYTE_TOKEN_URL"),
            username=env.get("AIRBYTE_USERNAME"),
            password=env.get("AIRBYTE_PASSWORD"),
            workspace_id=env.get("AIRBYTE_WORKSPACE_ID"),
            source="AIRBYTE_* environment variables",
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a retryable request is tried again."""

    attempts: int = 5
    backoff_s: float = 2.0
    max_delay_s: float = 30.0

    def delays(self) -> Iterator[float]:
        for i in range(self.attempts - 1):
            yield min(self.backoff_s * 2**i, self.max_delay_s)


_RETRYABLE_METHODS = {"GET", "PUT", "PATCH", "DELETE"}


def _detail(response: httpx.Response) -> tuple[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200], None
    if isinstance(body, dict):
        text = body.get("detail") or body.get("message") or body.get("title") or ""
        return str(text)[:300], body
    return str(body)[:200], body


class _Base:
    def __init__(self, settings: ServerSettings, retry: RetryPolicy | None, timeout_s: float) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self._token: str | None = None
        self._token_expires = 0.0

    def _where(self, method: str, path: str) -> str:
        return f"Airbyte server {self.settings.url}: {method} {API_PATH}{path}"

    def _error(self, response: httpx.Response, method: str, path: str) -> AirbyteApiError:
        status = response.status_code
        text, body = _detail(response)
        where = self._where(method, path)
        if status in (401, 403):
            how = (
                "check the client id/secret or user/password" if self.settings.auth else "no credentials set"
            )
            return AirbyteApiError(
                f"{where} answered {status} ({response.reason_phrase}); {how}", status, body
            )
        return AirbyteApiError(f"{where} answered {status}: {text or response.reason_phrase}", status, body)

    def _token_request(self, auth: ClientCredentials) -> tuple[str, dict[str, str]]:
        # the API description names the grant key both "grant-type" (its properties, the docs'
        # example) and "grant_type" (its required list); servers ignore the one they don't read
        return auth.token_url, {
            "client_id": auth.client_id,
            "client_secret": auth.client_secret,
            "grant-type": "client_credentials",
            "grant_type": "client_credentials",
        }

    def _token_from(self, response: httpx.Response, auth: ClientCredentials) -> str:
        if response.status_code != 200:
            text, _ = _detail(response)
            raise AirbyteApiError(
                f"Airbyte token endpoint {auth.token_url} answered {response.status_code}: "
                f"{text or response.reason_phrase}; check the client id and secret",
                response.status_code,
            )
        data = response.json()
        self._token = str(data["access_token"])
        # renewed a minute early: a token that expires mid-request is a needless 401
        self._token_expires = time.monotonic() + float(data.get("expires_in", 180)) - 60
        return self._token

    def _fresh_token(self) -> str | None:
        return self._token if self._token and time.monotonic() < self._token_expires else None

    def _auth_header(self, token: str | None) -> dict[str, str]:
        auth = self.settings.auth
        if isinstance(auth, BasicAuth):
            basic = httpx.BasicAuth(auth.username, auth.password)
            request = next(basic.auth_flow(httpx.Request("GET", self.settings.url)))
            return {"Authorization": request.headers["Authorization"]}
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _unanswered(
        self, exc: httpx.TransportError, method: str, path: str, timeout_s: float
    ) -> AirbyteApiError:
        if isinstance(exc, httpx.TimeoutException):
            return AirbyteTimeout(f"{self._where(method, path)} gave no answer within {timeout_s:g} s")
        return AirbyteUnreachable(f"{self._where(method, path)}: server unreachable ({exc})")

    def _backoff(self, error: AirbyteApiError, method: str, delays: Iterator[float]) -> float:
        """The wait before trying again; raises ``error`` when the request must not be retried
        (a write, a 4xx) or the tries are used up."""
        if method not in _RETRYABLE_METHODS or (error.status is not None and error.status < 500):
            raise error
        delay = next(delays, None)
        if delay is None:
            raise AirbyteApiError(f"{error} (gave up after {self.retry.attempts} tries)", error.status)
        return delay


class AirbyteClient(_Base):
    """Blocking client: plan, apply, import, and the operator's start of a sync."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(settings, retry, timeout_s)
        self._http = httpx.Client(transport=transport, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirbyteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _token_now(self) -> str | None:
        auth = self.settings.auth
        if not isinstance(auth, ClientCredentials):
            return None
        token = self._fresh_token()
        if token:
            return token
        url, payload = self._token_request(auth)
        try:
            response = self._http.post(url, json=payload)
        except httpx.TransportError as exc:
            raise AirbyteUnreachable(f"Airbyte token endpoint {url} is unreachable: {exc}") from None
        return self._token_from(response, auth)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """One API call; the decoded JSON body (None for an empty one). Raises AirbyteApiError."""
        delays = self.retry.delays()
        timeout = timeout_s or self.timeout_s
        while True:
            try:
                response = self._http.request(
                    method,
                    self.settings.api_url + path,
                    json=json,
                    params=params,
                    headers=self._auth_header(self._token_now()),
                    timeout=timeout,
                )
            except httpx.TransportError as exc:
                error = self._unanswered(exc, method, path, timeout)
            else:
                if response.status_code < 400:
                    return response.json() if response.content else None
                error = self._error(response, method, path)
            time.sleep(self._backoff(error, method, delays))

    def paged(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following offset paging."""
        items: list[dict[str, Any]] = []
        limit = 100
        while True:
            page = self.request("GET", path, params={**params, "limit": limit, "offset": len(items)})
            data = page.get("data", []) if isinstance(page, dict) else []
            items.extend(data)
            if len(data) < limit or not page.get("next"):
                return items


class AsyncAirbyteClient(_Base):
    """Async client for the triggerer: polls and cancels jobs without blocking its event loop."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings, retry, timeout_s)
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _token_now(self) -> str | None:
        auth = self.settings.auth
        if not isinstance(auth, ClientCredentials):
            return None
        token = self._fresh_token()
        if token:
            return token
        url, payload = self._token_request(auth)
        try:
            response = await self._http.post(url, json=payload)
        except httpx.TransportError as exc:
            raise AirbyteUnreachable(f"Airbyte token endpoint {url} is unreachable: {exc}") from None
        return self._token_from(response, auth)

    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        delays = self.retry.delays()
        while True:
            try:
                response = await self._http.request(
                    method,
                    self.settings.api_url + path,
                    params=params,
                    headers=self._auth_header(await self._token_now()),
                )
            except httpx.TransportError as exc:
                error = self._unanswered(exc, method, path, self.timeout_s)
            else:
                if response.status_code < 400:
                    return response.json() if response.content else None
                error = self._error(response, method, path)
            await asyncio.sleep(self._backoff(error, method, delays))
