"""Shared fixtures: paths of the repository, the demo project and the corpus of real manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

import sluice.settings

REPO = Path(__file__).resolve().parents[1]
#: real dbt manifests (structural skeletons of public projects; see its README)
CORPUS_DIR = REPO / "tests" / "data" / "corpus"
DEMO_SPEC = REPO / "dags" / "pipelines" / "payments_daily.yml"
DEMO_MANIFEST = REPO / "dbt" / "target" / "manifest.json"


#: the local Airbyte connector's virtualenv, made by `make faker-venv`
FAKER_PYTHON = REPO / ".venv-faker" / "bin" / "python"


@pytest.fixture(autouse=True)
def _no_ambient_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their environment explicitly; sluice guesses no repository path, so the
    tests name the connector's virtualenv as the Makefile does."""
    for var in ("SLUICE_ENV", "SLUICE_DBT_TARGET", "SLUICE_DBT_EXECUTABLE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SLUICE_FAKER_PYTHON", str(FAKER_PYTHON))
    # a process reads its settings once; a test changes the environment as it goes
    monkeypatch.setattr(sluice.settings, "_READ_ONCE", False)
