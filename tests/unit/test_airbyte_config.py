"""airbyte_config/ files: strict keys, errors naming file, line and key, strict ${VAR}, schemas."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sluice.airbyte.config import load_config
from sluice.airbyte.expand import MASK
from sluice.airbyte.models import Kind
from sluice.airbyte.schema import render_schema, schema_path
from sluice.errors import SluiceError, SpecErrors
from tests.conftest import REPO, line_of

CONFIG = REPO / "airbyte_config"


def copy_config(tmp_path: Path) -> Path:
    target = tmp_path / "airbyte_config"
    shutil.copytree(CONFIG, target, ignore=shutil.ignore_patterns("state"))
    return target


def errors_of(exc: pytest.ExceptionInfo[SluiceError]) -> list[str]:
    err = exc.value
    return [str(e) for e in err.errors] if isinstance(err, SpecErrors) else [str(err)]


def test_demo_config_loads() -> None:
    config = load_config(CONFIG)
    assert set(config.sources) == {"payments_faker"}
    assert config.sources["payments_faker"].resource.definition.id == "dfd88b22-b603-4c3d-aad7-3701784586b1"
    assert set(config.destinations) == {"payments_warehouse"}
    conn = config.connections["payments_raw"].resource
    assert [s.name for s in conn.streams] == ["users", "products", "purchases"]
    assert conn.namespace == "raw"
    assert (conn.source, conn.destination) == ("payments_faker", "payments_warehouse")


@pytest.mark.parametrize(
    ("folder", "old", "new", "needle", "expected"),
    [
        (
            "sources/payments_faker.yaml",
            "resource_name: payments_faker\n",
            "resource_name: payments_faker\nconfigurations: {}\n",
            "configurations:",
            "sources/payments_faker.yaml:{line}: configurations: unknown key",
        ),
        (
            "connections/payments_raw.yaml",
            "    primary_key: [[id]]\n  - name: products",
            "  - name: products",
            "- name: users",
            "connections/payments_raw.yaml:{line}: streams[0]: "
            "incremental_deduped_history needs a primary_key",
        ),
        (
            "connections/payments_raw.yaml",
            "source: payments_faker",
            "source: payments_fakr",
            "source: payments_fakr",
            "connections/payments_raw.yaml:{line}: source: no source named 'payments_fakr' "
            "(known: payments_faker)",
        ),
        (
            "sources/payments_faker.yaml",
            "  seed: 42\n",
            "  seed: 42\n  seed: 43\n",
            "seed: 43",
            "sources/payments_faker.yaml:{line}: configuration.seed: key appears twice",
        ),
        (
            "destinations/payments_warehouse.yaml",
            "${AIRBYTE_WAREHOUSE_PASSWORD}",
            "${AIRBYTE WAREHOUSE}",
            "${AIRBYTE WAREHOUSE}",
            "destinations/payments_warehouse.yaml:{line}: configuration.password: "
            "'${AIRBYTE WAREHOUSE}' is not",
        ),
        (
            "sources/payments_faker.yaml",
            "id: dfd88b22-b603-4c3d-aad7-3701784586b1",
            "id: faker",
            "id: faker",
            "sources/payments_faker.yaml:{line}: definition.id: 'faker' is not a connector definition id",
        ),
        (
            "connections/payments_raw.yaml",
            "    sync_mode: full_refresh_overwrite\n",
            "    sync_mode: full_refresh_overwrite\n    cursor_field: [updated_at]\n",
            "- name: products",
            "connections/payments_raw.yaml:{line}: streams[1]: "
            "cursor_field is only used by incremental modes",
        ),
    ],
)
def test_bad_file_is_one_line_naming_file_line_and_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    folder: str,
    old: str,
    new: str,
    needle: str,
    expected: str,
) -> None:
    """``expected`` names the line of ``needle`` in the broken file as {line}."""
    root = copy_config(tmp_path)
    path = root / folder
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    monkeypatch.chdir(root)
    with pytest.raises(SpecErrors) as exc:
        load_config(root)
    lines = errors_of(exc)
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected.replace("{line}", str(line_of(path.read_text(), needle)))), lines[0]


def test_two_files_with_one_resource_name_are_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_config(tmp_path)
    shutil.copy(root / "sources/payments_faker.yaml", root / "sources/copy.yaml")
    monkeypatch.chdir(root)
    with pytest.raises(SpecErrors) as exc:
        load_config(root)
    at = line_of((root / "sources/payments_faker.yaml").read_text(), "resource_name:")
    assert errors_of(exc) == [
        f"sources/payments_faker.yaml:{at}: resource_name: "
        "'payments_faker' is also defined in sources/copy.yaml"
    ]


def test_unset_variable_is_an_error_naming_file_and_key_never_a_literal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRBYTE_WAREHOUSE_PASSWORD", raising=False)
    monkeypatch.chdir(REPO)
    config = load_config(CONFIG)
    dest = config.destinations["payments_warehouse"]
    with pytest.raises(SluiceError) as exc:
        config.expanded_configuration(dest)
    at = line_of((CONFIG / "destinations" / "payments_warehouse.yaml").read_text(), "password:")
    assert str(exc.value) == (
        f"airbyte_config/destinations/payments_warehouse.yaml:{at}: configuration.password: "
        "${AIRBYTE_WAREHOUSE_PASSWORD} is not set; export AIRBYTE_WAREHOUSE_PASSWORD "
        "(it is never sent unexpanded)"
    )
    expanded = config.expanded_configuration(dest, {"AIRBYTE_WAREHOUSE_PASSWORD": "pw$1"})
    assert expanded["password"] == "pw$1"
    assert expanded["host"] == "warehouse.internal", "values without a reference are sent as written"


def test_escaped_reference_is_sent_literally(tmp_path: Path) -> None:
    root = copy_config(tmp_path)
    path = root / "sources/payments_faker.yaml"
    path.write_text(path.read_text() + "  note: 'costs $${PRICE} and ${A}${B}'\n")
    config = load_config(root)
    got = config.expanded_configuration(config.sources["payments_faker"], {"A": "x", "B": "y"})
    assert got["note"] == "costs ${PRICE} and xy"


def test_hash_is_of_the_file_as_written_not_of_secret_values() -> None:
    config = load_config(CONFIG)
    dest = config.destinations["payments_warehouse"]
    assert dest.raw()["configuration"]["password"] == "${AIRBYTE_WAREHOUSE_PASSWORD}"
    assert MASK not in str(dest.raw())


@pytest.mark.parametrize("kind", list(Kind))
def test_committed_schemas_are_current(kind: Kind) -> None:
    committed = schema_path(CONFIG, kind)
    assert committed.read_text() == render_schema(kind), (
        f"{committed} is stale; run `sluice airbyte schema` and commit it"
    )


def test_schema_describes_strict_keys() -> None:
    import json

    schema = json.loads(render_schema(Kind.CONNECTION))
    assert schema["additionalProperties"] is False
    assert {"resource_name", "source", "destination", "streams"} <= set(schema["required"])
