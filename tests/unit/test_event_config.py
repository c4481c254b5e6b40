"""event_streams/: every bad stream file is one line naming its file, line and key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sluice.cli import main
from sluice.errors import SpecErrors
from sluice.events.config import SCHEMA_NAME, load_streams, render_schema
from sluice.events.models import FileFormat
from tests.conftest import REPO, line_of

SCHEMA = {
    "type": "object",
    "required": ["id", "at"],
    "properties": {"id": {"type": "integer"}, "at": {"type": "string"}},
}


def schema_file(folder: Path, name: str = "v1.json", schema: object = SCHEMA) -> str:
    data = json.dumps(schema).encode()
    (folder / "schemas").mkdir(exist_ok=True)
    (folder / "schemas" / name).write_bytes(data)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def stream_text(digest: str, **changes: str) -> str:
    lines = {
        "name": "name: orders",
        "source": "source:\n  bucket: my-events\n  prefix: orders/\n  format: jsonl",
        "event_time_field": "event_time_field: at",
        "schemas": f"schemas:\n  - version: 1\n    file: schemas/v1.json\n    sha256: {digest}",
        "raw_table": "raw_table: raw_events.orders",
        "retention": "retention:\n  hot_days: 30\n  warm_days: 60\n  cold_days: 365",
    }
    lines.update(changes)
    return "\n".join(v for v in lines.values() if v) + "\n"


def problems(folder: Path) -> list[str]:
    with pytest.raises(SpecErrors) as caught:
        load_streams(folder)
    return str(caught.value).splitlines()


def test_a_valid_stream_loads_with_its_schemas(tmp_path: Path) -> None:
    digest = schema_file(tmp_path)
    (tmp_path / "orders.yaml").write_text(stream_text(digest))
    found = load_streams(tmp_path).stream("orders")
    assert found.stream.source.format is FileFormat.JSONL
    assert found.schemas == {1: SCHEMA}
    assert found.stream.quarantine == "raw_events.orders_quarantine"


@pytest.mark.parametrize(
    ("change", "needle", "key", "says"),
    [
        ({"name": "name: orders\ncolour: red"}, "colour:", "colour", "unknown key"),
        ({"raw_table": "raw_table: orders"}, "raw_table:", "raw_table", "schema.table"),
        ({"raw_table": "raw_table: raw.or-ders"}, "raw_table:", "raw_table", "plain SQL name"),
        (
            {"source": "source:\n  bucket: My_Bucket\n  prefix: orders/\n  format: jsonl"},
            "bucket:",
            "source.bucket",
            "not an S3 bucket name",
        ),
        (
            {"source": "source:\n  bucket: my-events\n  prefix: orders/\n  format: xml"},
            "format:",
            "source.format",
            "'jsonl', 'csv' or 'parquet'",
        ),
        (
            {"retention": "retention:\n  hot_days: 0\n  warm_days: 60\n  cold_days: 365"},
            "hot_days:",
            "retention.hot_days",
            "greater than or equal to 1",
        ),
        ({"event_time_field": ""}, "name:", "event_time_field", "required key is missing"),
    ],
)
def test_a_bad_key_is_named_with_its_line(
    tmp_path: Path, change: dict[str, str], needle: str, key: str, says: str
) -> None:
    digest = schema_file(tmp_path)
    text = stream_text(digest, **change)
    (tmp_path / "orders.yaml").write_text(text)
    (line,) = problems(tmp_path)
    assert line.startswith(f"{tmp_path / 'orders.yaml'}:{line_of(text, needle)}: {key}: "), line
    assert says in line


def test_an_edited_schema_version_is_refused(tmp_path: Path) -> None:
    digest = schema_file(tmp_path)
    text = stream_text(digest)
    (tmp_path / "orders.yaml").write_text(text)
    schema_file(tmp_path, schema={**SCHEMA, "required": ["id"]})  # v1 edited in place
    (line,) = problems(tmp_path)
    assert f":{line_of(text, 'sha256:')}: schemas[0].sha256: " in line
    assert "never edited" in line and "as version 2" in line


def test_a_version_without_its_hash_is_told_the_hash(tmp_path: Path) -> None:
    digest = schema_file(tmp_path)
    text = stream_text(digest, schemas="schemas:\n  - version: 1\n    file: schemas/v1.json")
    (tmp_path / "orders.yaml").write_text(text)
    (line,) = problems(tmp_path)
    assert f":{line_of(text, '- version: 1')}: schemas[0]: " in line
    assert f"sha256: {digest}" in line


def test_versions_count_from_one_in_order(tmp_path: Path) -> None:
    digest = schema_file(tmp_path)
    entry = f"  - version: {{}}\n    file: schemas/v1.json\n    sha256: {digest}"
    text = stream_text(digest, schemas="schemas:\n" + entry.format(2) + "\n" + entry.format(1))
    (tmp_path / "orders.yaml").write_text(text)
    (line,) = problems(tmp_path)
    assert f":{line_of(text, 'schemas:')}: schemas: " in line and "[2, 1]" in line


def test_a_schema_file_that_is_not_a_json_schema_is_refused(tmp_path: Path) -> None:
    digest = schema_file(tmp_path, schema={"type": "objekt"})
    text = stream_text(digest)
    (tmp_path / "orders.yaml").write_text(text)
    (line,) = problems(tmp_path)
    assert f":{line_of(text, 'file: schemas')}: schemas[0].file: " in line
    assert "not a valid JSON Schema at type" in line


def test_a_missing_schema_file_is_named(tmp_path: Path) -> None:
    text = stream_text("sha256:" + "0" * 64)
    (tmp_path / "orders.yaml").write_text(text)
    (line,) = problems(tmp_path)
    assert f":{line_of(text, 'file: schemas')}: schemas[0].file: cannot read " in line


def test_two_streams_may_not_share_a_name_or_a_raw_table(tmp_path: Path) -> None:
    digest = schema_file(tmp_path)
    (tmp_path / "a.yaml").write_text(stream_text(digest))
    (tmp_path / "b.yaml").write_text(stream_text(digest))
    (tmp_path / "c.yaml").write_text(stream_text(digest, name="name: other"))
    lines = problems(tmp_path)
    assert len(lines) == 2
    assert "b.yaml:1: name: 'orders' is also defined in" in lines[0]
    assert "c.yaml" in lines[1] and "raw_table: raw_events.orders is also the raw table of" in lines[1]


def test_every_problem_of_a_folder_is_its_own_line(tmp_path: Path) -> None:
    digest = schema_file(tmp_path)
    (tmp_path / "a.yaml").write_text(stream_text(digest, raw_table="raw_table: nodot"))
    (tmp_path / "b.yaml").write_text("name: [unclosed\n")
    lines = problems(tmp_path)
    assert len(lines) == 2 and "a.yaml" in lines[0] and "b.yaml" in lines[1]


def test_the_demo_streams_are_valid_and_their_editor_schema_is_current(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["events", "validate", "--dir", str(REPO / "event_streams")]) == 0
    assert (REPO / "event_streams" / SCHEMA_NAME).read_text() == render_schema(), "run `sluice events schema`"


def test_events_validate_prints_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = schema_file(tmp_path)
    (tmp_path / "orders.yaml").write_text(stream_text(digest, raw_table="raw_table: nodot"))
    assert main(["events", "validate", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "orders.yaml:" in err[0] and "raw_table:" in err[0]
