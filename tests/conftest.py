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


def demo_spec_text() -> str:
    """The demo spec with its dbt project, Airbyte and event streams folders as absolute paths, so
    a copy of it works from any folder."""
    text = DEMO_SPEC.read_text().replace("project_dir: ../../dbt", f"project_dir: {REPO / 'dbt'}")
    text = text.replace(
        "event_streams_dir: ../../event_streams", f"event_streams_dir: {REPO / 'event_streams'}"
    )
    return text.replace("airbyte_config: ../../airbyte_config", f"airbyte_config: {REPO / 'airbyte_config'}")


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    """A folder holding a copy of the demo spec, ``payments_daily.yml``."""
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "payments_daily.yml").write_text(demo_spec_text())
    return folder


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` holding ``needle``: what an error about
    that line must say, computed from the input rather than copied from today's output."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


#: the test tiers, by folder: `pytest -m unit` is the fast loop (no services, ~30 s)
TIERS = {"unit": "unit", "integration": "integration", "infra": "infra"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = TIERS.get(item.path.relative_to(REPO / "tests").parts[0])
        if tier:
            item.add_marker(tier)


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
