"""A test double of Airbyte's public API: an HTTP server on 127.0.0.1 (a free port).

It covers the endpoints sluice calls (workspaces, definitions, sources, destinations,
connections, jobs, the token endpoint), records every request body, and checks every answer
against the SDK's response models (``contract.py``): an answer that does not fit is recorded in
``drift`` and the tests' fixture fails on it, so the double cannot wander from the real API.

Knobs a test turns: ``job_script`` (the statuses a new job walks through, one per GET),
``create_delay_s`` (``POST /jobs`` answers late, after the job exists), ``fail_next`` (5xx
answers), ``hang_next`` (GETs that answer too late), ``fail_routes`` (500 on one route),
``credentials`` (401 without them).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.airbyte_double import contract
from tests.airbyte_double.observed import SECRET_MASK, problem, sync_already_running

API = "/api/public/v1"
TOKEN_PATH = "/api/v1/applications/token"
IN_PROGRESS = ("pending", "queued", "running", "incomplete")

FAKER = "dfd88b22-b603-4c3d-aad7-3701784586b1"
POSTGRES = "25c5221d-dce2-4163-ade9-739ef790f503"
DUCKDB = "94bd199c-2ff0-4aa2-b98e-17f0acb72610"


@dataclass
class DefinitionInfo:
    name: str
    repository: str
    secrets: frozenset[str] = frozenset()  # configuration keys the server masks


DEFINITIONS: dict[str, dict[str, DefinitionInfo]] = {
    "sources": {FAKER: DefinitionInfo("Sample Data (Faker)", "airbyte/source-faker")},
    "destinations": {
        POSTGRES: DefinitionInfo("Postgres", "airbyte/destination-postgres", frozenset({"password"})),
        DUCKDB: DefinitionInfo("DuckDB", "airbyte/destination-duckdb", frozenset({"motherduck_api_key"})),
    },
}


class _Error(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body


@dataclass
class Job:
    id: int
    connection_id: str
    script: list[str]
    created: float = field(default_factory=time.time)
    step: int = 0
    cancelled: bool = False
    polls: int = 0

    @property
    def status(self) -> str:
        return "cancelled" if self.cancelled else self.script[min(self.step, len(self.script) - 1)]

    def advance(self) -> None:
        self.polls += 1
        if not self.cancelled:
            self.step += 1

    def body(self) -> dict[str, Any]:
        started = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out: dict[str, Any] = {
            "jobId": self.id,
            "status": self.status,
            "jobType": "sync",
            "startTime": started,
            "connectionId": self.connection_id,
            "lastUpdatedAt": started,
        }
        if self.status == "succeeded":
            out.update(rowsSynced=3000, bytesSynced=123456, duration="PT12S")
        return out


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class AirbyteDouble:
    """The server's state and knobs; ``start()`` serves it, ``stop()`` ends it."""

    def __init__(self) -> None:
        self.workspace_id = str(uuid.uuid4())
        self.workspaces = {self.workspace_id: "Default Workspace"}
        self.actors: dict[str, dict[str, dict[str, Any]]] = {"sources": {}, "destinations": {}}
        self.connections: dict[str, dict[str, Any]] = {}
        self.jobs: dict[int, Job] = {}
        self.requests: list[Request] = []
        self.drift: list[str] = []
        self.job_script = ["pending", "queued", "running", "running", "succeeded"]
        self.create_delay_s = 0.0
        self.fail_next = 0
        self.fail_status = 503
        self.hang_next = 0
        self.hang_s = 2.0
        self.fail_routes: set[tuple[str, str]] = set()  # (method, route) answered with a 500
        self.fail_counts: dict[tuple[str, str], int] = {}  # ... for its next N requests only
        self.credentials: tuple[str, str] | None = None  # client id/secret, or user/password
        self.tokens: set[str] = set()
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> AirbyteDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

            def _serve(self) -> None:
                double._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    # ---- what tests read -------------------------------------------------------------------

    def bodies(self, method: str, prefix: str) -> list[Any]:
        return [r.body for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def by_name(self, kind: str, name: str) -> dict[str, Any]:
        table = self.connections if kind == "connections" else self.actors[kind]
        return next(r for r in table.values() if r["name"] == name)

    def jobs_of(self, connection_id: str) -> list[Job]:
        return [j for j in self.jobs.values() if j.connection_id == connection_id]

    # ---- the HTTP side ---------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {"form": parse_qs(raw.decode())}
        method = h.command
        with self.lock:
            self.requests.append(Request(method, parts.path, parse_qs(parts.query), body))
        status, answer, route = 500, None, ""
        try:
            if parts.path == TOKEN_PATH and method == "POST":
                status, answer, route = 200, self._token(body), "/applications/token"
            elif not parts.path.startswith(API):
                raise _Error(404, problem(404, "Not Found", f"no route {parts.path}"))
            else:
                self._authorize(h.headers.get("Authorization", ""))
                path = parts.path.removeprefix(API)
                route = re.sub(r"/[0-9a-f-]{36}|/\d+(?=/|$)", "/{id}", path)
                self._chaos(method)
                with self.lock:
                    countdown = self.fail_counts.get((method, route), 0)
                    if countdown:
                        self.fail_counts[(method, route)] = countdown - 1
                if (method, route) in self.fail_routes or countdown:
                    raise _Error(500, problem(500, "Internal Server Error", "the double was told to fail"))
                if method == "POST" and route == "/jobs" and self.create_delay_s:
                    status, answer = self._route(method, route, path, parse_qs(parts.query), body)
                    time.sleep(self.create_delay_s)  # the job exists; the answer comes late
                else:
                    with self.lock:
                        status, answer = self._route(method, route, path, parse_qs(parts.query), body)
        except _Error as err:
            status, answer = err.status, err.body
        if status < 400 and route:
            for table, what in ((contract.RESPONSES, answer), (contract.REQUESTS, body)):
                wrong = contract.check(table, method, route, what)
                if wrong:
                    self.drift.append(wrong)
        payload = json.dumps(answer).encode() if answer is not None else b""
        try:
            h.send_response(status)
            content_type = "application/json" if status < 400 else "application/problem+json"
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting: the point of the slow modes

    def _chaos(self, method: str) -> None:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                raise _Error(self.fail_status, problem(self.fail_status, "Service Unavailable", "try later"))
            hang = method == "GET" and self.hang_next > 0
            if hang:
                self.hang_next -= 1
        if hang:
            time.sleep(self.hang_s)

    def _token(self, body: Any) -> dict[str, Any]:
        given = (body or {}).get("client_id"), (body or {}).get("client_secret")
        if self.credentials is not None and given != self.credentials:
            raise _Error(401, problem(401, "Unauthorized", "invalid client credentials"))
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return {"access_token": token, "token_type": "Bearer", "expires_in": 180}

    def _authorize(self, header: str) -> None:
        if self.credentials is None:
            return
        if header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.tokens:
            return
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if (user, password) == self.credentials:
                return
        raise _Error(401, problem(401, "Unauthorized", "a valid token is required"))

    # ---- routes ----------------------------------------------------------------------------

    def _route(
        self, method: str, route: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        ids = re.findall(r"[0-9a-f-]{36}|(?<=/)\d+(?=/|$)", path)
        if route == "/workspaces" and method == "GET":
            return 200, {"data": [self._workspace(w) for w in self.workspaces]}
        if route == "/workspaces/{id}" and method == "GET":
            return 200, self._workspace(self._need(self.workspaces, ids[0], "workspace") and ids[0])
        match = re.fullmatch(r"/workspaces/\{id\}/definitions/(sources|destinations)/\{id\}", route)
        if match and method == "GET":
            info = self._need(DEFINITIONS[match.group(1)], ids[1], "definition")
            return 200, {
                "id": ids[1],
                "name": info.name,
                "dockerRepository": info.repository,
                "dockerImageTag": "latest",
            }
        match = re.fullmatch(r"/(sources|destinations)(/\{id\})?", route)
        if match:
            return self._actor(match.group(1), method, ids[0] if ids else None, query, body)
        if route.startswith("/connections"):
            return self._connection(method, ids[0] if ids else None, query, body)
        if route.startswith("/jobs"):
            return self._job(method, int(ids[0]) if ids else None, query, body)
        raise _Error(404, problem(404, "Not Found", f"{method} {route} is not served by the double"))

    @staticmethod
    def _need(table: dict[Any, Any], key: Any, what: str) -> Any:
        if key not in table:
            raise _Error(404, problem(404, "Not Found", f"{what} {key} not found"))
        return table[key]

    def _workspace(self, wid: str) -> dict[str, Any]:
        return {
            "workspaceId": wid,
            "name": self.workspaces[wid],
            "dataResidency": "auto",
            "notifications": {},
        }

    def _actor_body(self, kind: str, row: dict[str, Any]) -> dict[str, Any]:
        secrets = DEFINITIONS[kind][row["definitionId"]].secrets
        config = {k: (SECRET_MASK if k in secrets else v) for k, v in row["configuration"].items()}
        single = kind[:-1]
        return {
            f"{single}Id": row["id"],
            "name": row["name"],
            f"{single}Type": DEFINITIONS[kind][row["definitionId"]].repository.split("-", 1)[1],
            "definitionId": row["definitionId"],
            "workspaceId": row["workspaceId"],
            "configuration": config,
            "createdAt": row["createdAt"],
        }

    def _actor(
        self, kind: str, method: str, rid: str | None, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        table = self.actors[kind]
        if rid is None and method == "GET":
            wanted = set(query.get("workspaceIds", [])) or set(self.workspaces)
            rows = [r for r in table.values() if r["workspaceId"] in wanted]
            return 200, self._page(rows, query, lambda r: self._actor_body(kind, r))
        if rid is None and method == "POST":
            if body.get("definitionId") not in DEFINITIONS[kind]:
                raise _Error(
                    400, problem(400, "Bad Request", f"unknown definitionId {body.get('definitionId')}")
                )
            self._need(self.workspaces, body.get("workspaceId"), "workspace")
            row = {
                "id": str(uuid.uuid4()),
                "name": body["name"],
                "definitionId": body["definitionId"],
                "workspaceId": body["workspaceId"],
                "configuration": body["configuration"],
                "createdAt": int(time.time()),
            }
            table[row["id"]] = row
            return 200, self._actor_body(kind, row)
        row = self._need(table, rid, kind[:-1])
        if method == "GET":
            return 200, self._actor_body(kind, row)
        if method == "PUT":
            row.update(name=body["name"], configuration=body["configuration"])
            return 200, self._actor_body(kind, row)
        if method == "PATCH":
            row["name"] = body.get("name", row["name"])
            row["configuration"] = {**row["configuration"], **body.get("configuration", {})}
            return 200, self._actor_body(kind, row)
        if method == "DELETE":
            del table[rid]
            return 204, None
        raise _Error(405, problem(405, "Method Not Allowed", method))

    @staticmethod
    def _page(rows: list[Any], query: dict[str, list[str]], render: Any) -> dict[str, Any]:
        limit = int(query.get("limit", ["20"])[0])
        offset = int(query.get("offset", ["0"])[0])
        chosen = rows[offset : offset + limit]
        out: dict[str, Any] = {"data": [render(r) for r in chosen]}
        if offset + limit < len(rows):
            out["next"] = f"?limit={limit}&offset={offset + limit}"
        return out

    def _connection_body(self, row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if v is not None}

    def _connection(
        self, method: str, cid: str | None, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        if cid is None and method == "GET":
            wanted = set(query.get("workspaceIds", [])) or set(self.workspaces)
            rows = [r for r in self.connections.values() if r["workspaceId"] in wanted]
            return 200, self._page(rows, query, self._connection_body)
        if cid is None and method == "POST":
            source = self._need(self.actors["sources"], body["sourceId"], "source")
            self._need(self.actors["destinations"], body["destinationId"], "destination")
            row = {
                "connectionId": str(uuid.uuid4()),
                "name": body.get("name") or "unnamed",
                "sourceId": body["sourceId"],
                "destinationId": body["destinationId"],
                "workspaceId": source["workspaceId"],
                "status": body.get("status", "active"),
                "schedule": body.get("schedule") or {"scheduleType": "manual"},
                "configurations": body.get("configurations") or {"streams": []},
                "namespaceDefinition": body.get("namespaceDefinition", "destination"),
                "namespaceFormat": body.get("namespaceFormat"),
                "prefix": body.get("prefix", ""),
                "nonBreakingSchemaUpdatesBehavior": "ignore",
                "tags": [],
                "createdAt": int(time.time()),
            }
            self.connections[row["connectionId"]] = row
            return 200, self._connection_body(row)
        row = self._need(self.connections, cid, "connection")
        if method == "GET":
            return 200, self._connection_body(row)
        if method == "PATCH":
            row.update({k: v for k, v in body.items() if v is not None})
            return 200, self._connection_body(row)
        if method == "DELETE":
            del self.connections[cid]
            return 204, None
        raise _Error(405, problem(405, "Method Not Allowed", method))

    def _job(self, method: str, jid: int | None, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if jid is None and method == "POST":
            cid = body["connectionId"]
            self._need(self.connections, cid, "connection")
            if any(j.status in IN_PROGRESS for j in self.jobs_of(cid)):
                raise _Error(409, sync_already_running(cid))
            job = Job(max(self.jobs, default=0) + 1, cid, list(self.job_script))
            self.jobs[job.id] = job
            return 200, job.body()
        if jid is None and method == "GET":
            rows = sorted(self.jobs.values(), key=lambda j: j.id, reverse=True)
            if "connectionId" in query:
                rows = [j for j in rows if j.connection_id == query["connectionId"][0]]
            if "status" in query:
                rows = [j for j in rows if j.status == query["status"][0]]
            if "jobType" in query:
                rows = [j for j in rows if query["jobType"][0] == "sync"]
            if query.get("orderBy", [""])[0].endswith("ASC"):
                rows.reverse()
            return 200, self._page(rows, query, Job.body)
        job = self._need(self.jobs, jid, "job")
        if method == "GET":
            job.advance()
            return 200, job.body()
        if method == "DELETE":
            if job.status not in IN_PROGRESS:
                raise _Error(409, problem(409, "Conflict", f"job {jid} is already {job.status}"))
            job.cancelled = True
            return 200, job.body()
        raise _Error(405, problem(405, "Method Not Allowed", method))


def serve() -> Iterator[AirbyteDouble]:
    """A started double that fails the test if any of its answers drifted from the contract."""
    double = AirbyteDouble().start()
    try:
        yield double
    finally:
        double.stop()
    assert not double.drift, double.drift
