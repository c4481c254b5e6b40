"""sluice airbyte plan / apply / import against the API double (an HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from airbyte_api import models as sdk

from sluice.airbyte.client import AirbyteClient, ServerSettings
from sluice.airbyte.config import load_config
from sluice.airbyte.models import Kind
from sluice.airbyte.reconcile import Action, Reconciler, import_remote
from sluice.airbyte.state import load_state
from sluice.cli import main
from tests.airbyte_double.server import FAKER, POSTGRES, AirbyteDouble, serve
from tests.conftest import REPO, line_of

SECRET = "pw-Very-S3cret-value"
CLIENT = ("sluice-client", "client-S3cret-value")


@pytest.fixture
def airbyte() -> Iterator[AirbyteDouble]:
    yield from serve()


@pytest.fixture
def env(airbyte: AirbyteDouble, monkeypatch: pytest.MonkeyPatch) -> AirbyteDouble:
    airbyte.credentials = CLIENT
    for var in ("AIRBYTE_USERNAME", "AIRBYTE_PASSWORD", "AIRBYTE_WORKSPACE_ID", "AIRBYTE_TOKEN_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AIRBYTE_URL", airbyte.url)
    monkeypatch.setenv("AIRBYTE_CLIENT_ID", CLIENT[0])
    monkeypatch.setenv("AIRBYTE_CLIENT_SECRET", CLIENT[1])
    monkeypatch.setenv("AIRBYTE_WAREHOUSE_PASSWORD", SECRET)
    return airbyte


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "airbyte_config"
    shutil.copytree(REPO / "airbyte_config", target, ignore=shutil.ignore_patterns("state"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLUICE_AIRBYTE_STATE_DIR", raising=False)
    return target


def airbyte_cli(verb: str, cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["airbyte", verb, "--dir", str(cfg)])
    out, err = capsys.readouterr()
    return code, out, err


def writes(double: AirbyteDouble) -> list[str]:
    api = "/api/public/v1"
    return [f"{r.method} {r.path}" for r in double.requests if r.method != "GET" and r.path.startswith(api)]


def state_text(cfg: Path) -> str:
    return "".join(p.read_text() for p in (cfg / "state").glob("*.json"))


def test_apply_from_empty_sends_exactly_what_the_yaml_says(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = airbyte_cli("apply", cfg, capsys)
    assert code == 0
    assert out.splitlines() == [
        "+ create    source payments_faker",
        "+ create    destination payments_warehouse",
        "+ create    connection payments_raw",
    ]
    [source] = env.bodies("POST", "/api/public/v1/sources")
    assert source == {
        "name": "payments_faker",
        "workspaceId": env.workspace_id,
        "definitionId": FAKER,
        "configuration": {"count": 1000, "seed": 42, "records_per_slice": 500, "parallelism": 1},
    }
    [dest] = env.bodies("POST", "/api/public/v1/destinations")
    assert dest["definitionId"] == POSTGRES
    assert dest["configuration"] == {
        "host": "warehouse.internal",
        "port": 5432,
        "database": "payments",
        "schema": "raw",
        "username": "airbyte",
        "password": SECRET,
        "ssl_mode": {"mode": "disable"},
    }
    [conn] = env.bodies("POST", "/api/public/v1/connections")
    assert conn["sourceId"] == env.by_name("sources", "payments_faker")["id"]
    assert conn["namespaceDefinition"] == "custom_format"
    assert conn["namespaceFormat"] == "raw"
    assert conn["schedule"] == {"scheduleType": "manual"}
    assert conn["configurations"]["streams"] == [
        {
            "name": "users",
            "syncMode": "incremental_deduped_history",
            "cursorField": ["updated_at"],
            "primaryKey": [["id"]],
        },
        {"name": "products", "syncMode": "full_refresh_overwrite"},
        {
            "name": "purchases",
            "syncMode": "incremental_deduped_history",
            "cursorField": ["updated_at"],
            "primaryKey": [["id"]],
        },
    ]
    # the SDK's typed request model would not have sent that: it fills in the faker model's
    # defaults (and a sourceType), which is why sluice posts raw JSON
    typed = sdk.SourceCreateRequest(configuration=source["configuration"], name="x", workspace_id="w")
    assert typed.model_dump(by_alias=True, mode="json")["configuration"] != source["configuration"]


def test_second_apply_changes_nothing(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert airbyte_cli("apply", cfg, capsys)[0] == 0
    before = len(writes(env))
    state = state_text(cfg)
    code, out, _ = airbyte_cli("apply", cfg, capsys)
    assert code == 0
    assert all(line.startswith("= unchanged") for line in out.splitlines()), out
    assert len(writes(env)) == before, "a second apply wrote to the server"
    assert state_text(cfg) == state


def test_plan_shows_drift_after_a_remote_edit_and_apply_restores_git(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    airbyte_cli("apply", cfg, capsys)
    env.by_name("sources", "payments_faker")["configuration"]["count"] = 5  # edited in the UI
    env.by_name("connections", "payments_raw")["configurations"]["streams"][1]["syncMode"] = (
        "full_refresh_append"
    )
    code, out, _ = airbyte_cli("plan", cfg, capsys)
    assert code == 0
    assert out.splitlines() == [
        "! drift     source payments_faker: configuration.count is 5 on the server, 1000 in git",
        "= unchanged destination payments_warehouse",
        "! drift     connection payments_raw: streams.products.syncMode is 'full_refresh_append' "
        "on the server, "
        "'full_refresh_overwrite' in git",
    ]
    assert airbyte_cli("apply", cfg, capsys)[0] == 0
    assert env.by_name("sources", "payments_faker")["configuration"]["count"] == 1000
    assert airbyte_cli("plan", cfg, capsys)[1].count("= unchanged") == 3


def test_masked_secret_on_the_server_is_not_drift(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    airbyte_cli("apply", cfg, capsys)
    answer = [r for r in env.requests if r.method == "GET" and "/destinations" in r.path]
    assert answer, "plan read the destination back"
    out = airbyte_cli("plan", cfg, capsys)[1]
    assert "= unchanged destination payments_warehouse" in out


def test_plan_shows_an_update_after_a_git_edit(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    airbyte_cli("apply", cfg, capsys)
    path = cfg / "sources/payments_faker.yaml"
    path.write_text(path.read_text().replace("count: 1000", "count: 2000"))
    out = airbyte_cli("plan", cfg, capsys)[1]
    assert "~ update    source payments_faker: configuration.count is 1000 on the server, 2000 in git" in out
    airbyte_cli("apply", cfg, capsys)
    [put] = env.bodies("PUT", "/api/public/v1/sources/")
    assert put == {
        "name": "payments_faker",
        "configuration": {"count": 2000, "seed": 42, "records_per_slice": 500, "parallelism": 1},
    }


def test_secrets_never_reach_state_plan_or_logs(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    outputs = [airbyte_cli(verb, cfg, capsys) for verb in ("plan", "apply", "plan", "import")]
    env.by_name("destinations", "payments_warehouse")["configuration"]["host"] = "elsewhere"
    outputs.append(airbyte_cli("plan", cfg, capsys))
    text = json.dumps(outputs) + state_text(cfg) + caplog.text
    assert "elsewhere" in text, "the drift run did print"
    for secret in (SECRET, CLIENT[1]):
        assert secret not in text
    state = json.loads(state_text(cfg))
    assert set(state) == {"workspace_id", "server", "sources", "destinations", "connections"}
    assert repr(ServerSettings.from_env()).count(CLIENT[1]) == 0


def test_import_round_trip(
    env: AirbyteDouble, cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a workspace built outside sluice: apply from one folder, then import into an empty one
    config = load_config(cfg)
    with AirbyteClient(ServerSettings.from_env()) as client:  # type: ignore[arg-type]
        Reconciler(config, client, load_state(cfg, env.workspace_id, env.url)).apply(lambda _: None)
        empty = tmp_path / "imported"
        (empty / "sources").mkdir(parents=True)
        done = import_remote(load_config(empty), client, load_state(empty, env.workspace_id, env.url))
    assert sorted(p.relative_to(empty).as_posix() for p in done.written) == [
        "connections/payments_raw.yaml",
        "destinations/payments_warehouse.yaml",
        "sources/payments_faker.yaml",
    ]
    dest = yaml.safe_load((empty / "destinations/payments_warehouse.yaml").read_text())
    assert dest["configuration"]["password"] == "${PAYMENTS_WAREHOUSE_PASSWORD}"
    assert SECRET not in "".join(p.read_text() for p in done.written)
    imported = load_config(empty)
    for kind in Kind:
        mine = {
            n: f.raw()
            for n, f in (config.connections if kind is Kind.CONNECTION else config.actors(kind)).items()
        }
        theirs = {
            n: f.raw()
            for n, f in (imported.connections if kind is Kind.CONNECTION else imported.actors(kind)).items()
        }
        if kind is Kind.DESTINATION:
            for raw in (mine, theirs):
                raw["payments_warehouse"]["configuration"].pop("password")
        assert theirs == mine, kind
    # the imported folder plans clean against the server it came from
    monkeypatch.setenv("PAYMENTS_WAREHOUSE_PASSWORD", SECRET)
    with AirbyteClient(ServerSettings.from_env()) as client:  # type: ignore[arg-type]
        changes = Reconciler(imported, client, load_state(empty, env.workspace_id, env.url)).plan()
    assert [c.action for c in changes] == [Action.UNCHANGED] * 3


def test_missing_variable_stops_apply_before_any_write(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRBYTE_WAREHOUSE_PASSWORD")
    code, _out, err = airbyte_cli("apply", cfg, capsys)
    assert code == 1
    at = line_of((cfg / "destinations" / "payments_warehouse.yaml").read_text(), "password:")
    assert err.splitlines() == [
        f"{cfg.relative_to(cfg.parent)}/destinations/payments_warehouse.yaml:{at}: configuration.password: "
        "${AIRBYTE_WAREHOUSE_PASSWORD} is not set; export AIRBYTE_WAREHOUSE_PASSWORD "
        "(it is never sent unexpanded)"
    ]
    assert writes(env) == []
    assert "${" not in json.dumps([r.body for r in env.requests])


def test_wrong_credentials_are_one_line(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRBYTE_CLIENT_SECRET", "wrong")
    code, _, err = airbyte_cli("plan", cfg, capsys)
    assert code == 1
    assert err.splitlines() == [
        f"Airbyte token endpoint {env.token_url} answered 401: invalid client credentials; "
        "check the client id and secret"
    ]


def test_basic_auth_refused_is_one_line(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AIRBYTE_CLIENT_ID", "AIRBYTE_CLIENT_SECRET"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AIRBYTE_USERNAME", "airbyte")
    monkeypatch.setenv("AIRBYTE_PASSWORD", "nope")
    code, _, err = airbyte_cli("plan", cfg, capsys)
    assert (code, err.splitlines()) == (
        1,
        [
            f"Airbyte server {env.url}: GET /api/public/v1/workspaces answered 401 (Unauthorized); "
            "check the client id/secret or user/password"
        ],
    )
    monkeypatch.setenv("AIRBYTE_USERNAME", CLIENT[0])
    monkeypatch.setenv("AIRBYTE_PASSWORD", CLIENT[1])
    assert airbyte_cli("plan", cfg, capsys)[0] == 0, "basic auth with the right pair is accepted"


def test_unreachable_server_is_one_line(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AIRBYTE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AIRBYTE_WORKSPACE_ID", "ws")
    monkeypatch.setenv("AIRBYTE_WAREHOUSE_PASSWORD", SECRET)
    for var in ("AIRBYTE_CLIENT_ID", "AIRBYTE_CLIENT_SECRET", "AIRBYTE_USERNAME", "AIRBYTE_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    import sluice.airbyte.client as client_module

    # a refused connection is retried with backoff; the waits themselves are skipped here
    monkeypatch.setattr(client_module.time, "sleep", lambda _s: None)
    code, _, err = airbyte_cli("plan", cfg, capsys)
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith(
        f"Airbyte server http://127.0.0.1:{port}: GET /api/public/v1/workspaces/ws/definitions/sources/"
    )
    assert "server unreachable" in line and "(gave up after 3 tries)" in line


def test_unknown_connector_definition_names_file_and_key(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cfg / "sources/payments_faker.yaml"
    path.write_text(path.read_text().replace(FAKER, "00000000-0000-0000-0000-000000000000"))
    code, _, err = airbyte_cli("apply", cfg, capsys)
    assert code == 1
    assert err.splitlines() == [
        "airbyte_config/sources/payments_faker.yaml:5: definition.id: no source connector definition "
        f"00000000-0000-0000-0000-000000000000 (Sample Data (Faker)) on Airbyte server {env.url}; "
        "install the connector or fix the id"
    ]
    assert writes(env) == []


def test_failure_half_way_says_what_was_applied(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.fail_routes.add(("POST", "/connections"))
    code, _, err = airbyte_cli("apply", cfg, capsys)
    assert code == 1
    assert err.splitlines() == [
        f"Airbyte server {env.url}: POST /api/public/v1/connections answered 500: "
        "the double was told to fail — applied before the failure: source payments_faker (created), "
        "destination payments_warehouse (created); "
        "not applied: connection payments_raw"
    ]
    state = json.loads(state_text(cfg))
    assert set(state["sources"]) == {"payments_faker"} and state["connections"] == {}
    env.fail_routes.clear()
    code, out, _ = airbyte_cli("apply", cfg, capsys)
    assert code == 0
    assert out.splitlines()[-1] == "+ create    connection payments_raw"
    assert len(env.actors["sources"]) == 1, "the re-run did not create the source twice"


def test_resource_deleted_remotely_is_created_again(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    airbyte_cli("apply", cfg, capsys)
    env.connections.clear()
    out = airbyte_cli("plan", cfg, capsys)[1]
    assert "+ create    connection payments_raw: recorded id" in out


def test_renamed_on_the_server_is_drift_and_apply_renames_it_back(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    airbyte_cli("apply", cfg, capsys)
    env.by_name("sources", "payments_faker")["name"] = "faker (renamed in the UI)"
    out = airbyte_cli("plan", cfg, capsys)[1]
    assert "! drift     source payments_faker: name is 'faker (renamed in the UI)' on the server" in out
    airbyte_cli("apply", cfg, capsys)
    assert env.by_name("sources", "payments_faker")


def test_connection_whose_source_was_recreated_says_how_to_fix(
    env: AirbyteDouble, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    airbyte_cli("apply", cfg, capsys)
    env.actors["sources"].clear()  # the source was deleted on the server; apply makes a new one
    code, _, err = airbyte_cli("apply", cfg, capsys)
    assert code == 1
    assert "connections/payments_raw.yaml:4: source: connection payments_raw on the server links other" in err
    assert "applied before the failure: source payments_faker (created)" in err
