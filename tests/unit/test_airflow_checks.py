"""What Airflow would refuse is refused by `sluice validate` and isolated at DAG import."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from sluice.airflow import dag_files, render
from sluice.cli import main
from sluice.errors import SluiceError
from tests.conftest import line_of


@pytest.fixture(autouse=True)
def _own_plan_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_PLAN_DIR", str(tmp_path / "plans"))


def other(specs: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = (specs / "payments_daily.yml").read_text().replace("pipeline: payments_daily", f"pipeline: {name}")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = specs / f"{name}.yml"
    path.write_text(text)
    return path


def validate_lines(specs: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["validate", str(specs)]) == 1
    return capsys.readouterr().out.strip().splitlines()


def test_a_cron_airflow_cannot_parse_is_refused_at_its_line(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = other(specs, "minute_61", ('schedule: "0 5 * * *"', 'schedule: "61 * * * *"'))
    (line,) = validate_lines(specs, capsys)
    assert line.startswith(
        f"{bad}:{line_of(bad.read_text(), 'schedule:')}: schedule: Airflow refuses '61 * * * *': "
    )


def test_a_schedule_refused_only_in_one_environment_is_named_there(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = other(specs, "dev_typo", ('schedule: "0 */6 * * *"', 'schedule: "@hourlyy"'))
    (line,) = validate_lines(specs, capsys)
    at = line_of(bad.read_text(), "@hourlyy")
    assert line.startswith(f"{bad}:{at}: environments.dev.schedule: Airflow refuses '@hourlyy'")


def test_continuous_with_overlapping_runs_is_refused(specs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = other(specs, "always", ('schedule: "0 5 * * *"', 'schedule: "@continuous"\nmax_active_runs: 2'))
    (line,) = validate_lines(specs, capsys)
    at = line_of(bad.read_text(), "@continuous")
    assert line.startswith(f"{bad}:{at}: schedule: Airflow refuses '@continuous': ")
    assert "max_active_runs" in line


def test_the_dag_runs_one_at_a_time_unless_the_spec_says_otherwise(specs: Path) -> None:
    other(specs, "parallel", ("catchup: false", "catchup: false\nmax_active_runs: 3"))
    dags = dag_files.load_dags(specs)
    assert dags["payments_daily"].max_active_runs == 1
    assert dags["parallel"].max_active_runs == 3


def test_a_spec_that_fails_while_drawn_is_an_import_error_and_the_rest_load(
    specs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever breaks while a DAG is drawn (past every check) stays that spec's problem: the DAG
    file keeps the others, and the errors file names the spec even in its own fresh process."""
    bad = other(specs, "unlucky")
    drawn = render.render_dag

    def flaky(sf: Any, plan: Any, paths: Any) -> Any:
        if sf.spec.pipeline == "unlucky":
            raise RecursionError("maximum recursion depth exceeded")
        return drawn(sf, plan, paths)

    monkeypatch.setattr(render, "render_dag", flaky)
    assert sorted(dag_files.load_dags(specs)) == ["payments_daily"]
    monkeypatch.setattr(render, "render_dag", drawn)  # the errors file reads the verdict left behind
    with pytest.raises(SluiceError) as exc:
        dag_files.raise_spec_errors(specs)
    at = line_of(bad.read_text(), "pipeline:")
    assert str(exc.value).splitlines() == [
        f"{bad}:{at}: pipeline: the DAG could not be built: RecursionError: maximum recursion depth exceeded"
    ]
    bad.write_text(bad.read_text() + "\n")  # a new version of the spec is drawn afresh
    dag_files.raise_spec_errors(specs)


def test_a_corrupt_verdict_file_is_drawn_again_not_a_failure_of_every_pipeline(specs: Path) -> None:
    assert sorted(dag_files.load_dags(specs)) == ["payments_daily"]
    verdicts = list((specs.parent / "plans").glob("*.verdict.json"))
    assert verdicts
    for corrupt in ("[" * 100_000 + "]" * 100_000, '{"key": 1, "error": 2}', "{not json"):
        for path in verdicts:
            path.write_text(corrupt)
        assert sorted(dag_files.load_dags(specs)) == ["payments_daily"]
        dag_files.raise_spec_errors(specs)  # no broken spec: raises nothing


def test_the_dag_files_leave_the_garbage_collector_as_they_found_it(specs: Path) -> None:
    """It is paused while the DAGs are built, never left off in Airflow's process, nor turned on
    where someone had turned it off."""
    other(specs, "broken", ('schedule: "0 5 * * *"', 'schedule: "61 * * * *"'))
    assert gc.isenabled()
    assert sorted(dag_files.load_dags(specs)) == ["payments_daily"]
    assert gc.isenabled()
    with pytest.raises(SluiceError):
        dag_files.raise_spec_errors(specs)
    assert gc.isenabled()
    gc.disable()
    try:
        dag_files.load_dags(specs)
        assert not gc.isenabled()
    finally:
        gc.enable()
