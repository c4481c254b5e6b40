"""The Airbyte protocol as the local sync reads it, on output recorded from airbyte-source-faker
7.2.1 (tests/unit/data/source_faker: spec, discover, a read of 6 users, and a bad-config check and
read)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sluice.airbyte import protocol as proto

DATA = Path(__file__).parent / "data" / "source_faker"


def lines(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()


def discovered() -> list[dict[str, Any]]:
    catalog = proto.single_message(lines("discover.jsonl"), "CATALOG")
    assert catalog is not None
    return list(catalog["catalog"]["streams"])


def test_a_recorded_read_parses_into_records_states_and_logs() -> None:
    parsed = [proto.parse_line(line) for line in lines("read_incremental.jsonl")]
    records = Counter(m.stream for m in parsed if isinstance(m, proto.Record))
    assert records == {"users": 6, "products": 6, "purchases": 6}
    states = [m for m in parsed if isinstance(m, proto.State)]
    assert [s.stream for s in states] == ["products", "users", "purchases"]
    # the checkpoint handed back to the source is the state message minus the platform's counts
    assert "sourceStats" not in states[1].message
    assert states[1].message["stream"]["stream_state"]["loop_offset"] == 6
    statuses = [(m.stream, m.status) for m in parsed if isinstance(m, proto.StreamStatus)]
    assert ("users", "COMPLETE") in statuses
    assert not [m for m in parsed if isinstance(m, proto.TraceError)]
    # a record keeps the connector's own line: the writer extracts typed fields from it
    first = next(m for m in parsed if isinstance(m, proto.Record))
    assert json.loads(first.line)["record"]["stream"] == first.stream


def test_a_failed_read_reports_the_connectors_error_message() -> None:
    parsed = [proto.parse_line(line) for line in lines("read_bad_config.jsonl")]
    errors = [m for m in parsed if isinstance(m, proto.TraceError)]
    assert len(errors) == 1
    assert errors[0].message == "Config validation error: 'many' is not of type 'integer'"
    assert errors[0].failure_type == "config_error"
    fatal = [m for m in parsed if isinstance(m, proto.Log) and m.level == "FATAL"]
    assert fatal and "Traceback" in fatal[0].message


def test_a_failed_check_is_a_connection_status_with_the_reason() -> None:
    status = proto.single_message(lines("check_bad_config.jsonl"), "CONNECTION_STATUS")
    assert status == {
        "type": "CONNECTION_STATUS",
        "connectionStatus": {
            "status": "FAILED",
            "message": "Config validation error: 'many' is not of type 'integer'",
        },
    }


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("plain text a connector printed", "TEXT"),
        ("{not json", "TEXT"),
        ("[1, 2]", "TEXT"),
        ('{"type": "CONTROL", "control": {}}', "CONTROL"),
    ],
)
def test_stray_output_is_kept_apart_not_fatal(line: str, kind: str) -> None:
    parsed = proto.parse_line(line)
    assert isinstance(parsed, proto.Other) and parsed.kind == kind


def test_global_and_legacy_states_cover_every_stream() -> None:
    global_state = proto.parse_line(
        '{"type":"STATE","state":{"type":"GLOBAL","global":{"shared_state":{"lsn":7},"stream_states":[]}}}'
    )
    legacy = proto.parse_line('{"type":"STATE","state":{"data":{"users":{"updated_at":"x"}}}}')
    assert isinstance(global_state, proto.State) and global_state.stream is None
    assert isinstance(legacy, proto.State) and legacy.stream is None
    assert legacy.message == {"data": {"users": {"updated_at": "x"}}}


def test_discovered_schemas_become_typed_columns() -> None:
    streams = {s["name"]: s for s in discovered()}
    users = {c.name: c.sql_type for c in proto.columns(streams["users"]["json_schema"])}
    assert users["id"] == "BIGINT"
    assert users["created_at"] == "TIMESTAMPTZ"  # airbyte_type timestamp_with_timezone
    assert users["email"] == "VARCHAR"
    assert users["address"] == "JSON"  # a nested object stays one JSON column
    purchases = {c.name: c.sql_type for c in proto.columns(streams["purchases"]["json_schema"])}
    assert purchases["returned_at"] == "TIMESTAMPTZ"  # ["null", "string"] is a nullable string
    products = {c.name: c.sql_type for c in proto.columns(streams["products"]["json_schema"])}
    assert products["price"] == "DOUBLE"


@pytest.mark.parametrize(
    ("prop", "sql_type"),
    [
        ({"type": "string", "airbyte_type": "timestamp_without_timezone"}, "TIMESTAMP"),
        ({"type": "string", "format": "date"}, "DATE"),
        ({"type": "number", "airbyte_type": "integer"}, "BIGINT"),
        ({"type": ["null", "boolean"]}, "BOOLEAN"),
        ({"type": ["string", "integer"]}, "JSON"),
        ({"type": "array", "items": {"type": "string"}}, "JSON"),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "JSON"),
    ],
)
def test_column_types_follow_airbytes_typing(prop: dict[str, Any], sql_type: str) -> None:
    assert proto.column_type(prop) == sql_type


def test_configure_takes_the_sources_cursor_and_key_and_writes_a_catalog() -> None:
    users = proto.configure(discovered(), "users", "incremental", "append_dedup", (), ())
    assert users.cursor_field == ("updated_at",)
    assert users.primary_key == (("id",),)
    entry = proto.configured_catalog([users])["streams"][0]
    assert entry["stream"]["name"] == "users"
    assert entry["sync_mode"] == "incremental"
    assert entry["destination_sync_mode"] == "append_dedup"
    assert entry["cursor_field"] == ["updated_at"] and entry["primary_key"] == [["id"]]


@pytest.mark.parametrize(
    ("name", "sync_mode", "destination", "cursor", "message"),
    [
        ("orders", "full_refresh", "overwrite", (), "stream 'orders' is not offered by the source"),
        ("users", "incremental", "overwrite", (), "not a combination Airbyte offers"),
        ("users", "incremental", "append", ("nope",), "field nope is not a top-level property"),
    ],
)
def test_configure_refuses_what_the_source_cannot_serve(
    name: str, sync_mode: str, destination: str, cursor: tuple[str, ...], message: str
) -> None:
    with pytest.raises(proto.CatalogProblem, match=message):
        proto.configure(discovered(), name, sync_mode, destination, cursor, ())


def test_secrets_marked_in_the_spec_are_masked_and_others_are_not() -> None:
    spec = {
        "connectionSpecification": {
            "properties": {
                "host": {"type": "string"},
                "credentials": {
                    "oneOf": [
                        {"properties": {"password": {"type": "string", "airbyte_secret": True}}},
                        {"properties": {"api_key": {"type": "string", "airbyte_secret": True}}},
                    ]
                },
            }
        }
    }
    config = {"host": "db.example.com", "credentials": {"password": "hunter2-very-secret"}}
    secrets = proto.secret_values(spec, config)
    assert secrets == {"hunter2-very-secret"}
    assert proto.mask("login to db.example.com with hunter2-very-secret", secrets) == (
        "login to db.example.com with **********"
    )
    faker_spec = proto.single_message(lines("spec.jsonl"), "SPEC")
    assert faker_spec is not None
    assert proto.secret_values(faker_spec["spec"], {"count": 5, "seed": 1}) == set()
