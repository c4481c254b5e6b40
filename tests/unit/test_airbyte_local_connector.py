"""The local Airbyte sync's own checks, before any connector runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.airbyte import local_connector
from sluice.airbyte.local_connector import StreamSelection, run_local_sync
from sluice.errors import LocalSyncError, SluiceError


def test_a_missing_connector_virtualenv_says_how_to_make_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_FAKER_PYTHON", str(tmp_path / "nowhere" / "python"))
    with pytest.raises(LocalSyncError) as caught:
        run_local_sync(
            "payments_raw",
            {"count": 1},
            [StreamSelection("users", "incremental", "append_dedup")],
            tmp_path / "w.duckdb",
            "raw",
            tmp_path / "state",
            print,
        )
    message = str(caught.value)
    assert "make faker-venv" in message and "SLUICE_FAKER_PYTHON" in message
    assert str(tmp_path / "nowhere" / "python") in message and "\n" not in message
    assert isinstance(caught.value, SluiceError)
    assert not (tmp_path / "w.duckdb").exists()


def test_an_unset_connector_python_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sluice guesses no repository folder: the Makefile (or the deployment) names the Python."""
    monkeypatch.delenv("SLUICE_FAKER_PYTHON", raising=False)
    with pytest.raises(LocalSyncError) as caught:
        local_connector.connector_command()
    message = str(caught.value)
    assert message.startswith("SLUICE_FAKER_PYTHON is not set: ")
    assert "make faker-venv" in message and "\n" not in message


@pytest.mark.parametrize("name", ["", "../escape", "a b", "x/y"])
def test_a_connection_name_that_is_no_file_name_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(LocalSyncError, match="the name must be"):
        run_local_sync(name, {}, [], tmp_path / "w.duckdb", "raw", tmp_path, print)
