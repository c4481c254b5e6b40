"""Spec loading: strict keys, errors naming file, line and key, environment overrides, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice.errors import SluiceError, SpecError, SpecErrors
from sluice.spec import models
from sluice.spec.reader import load_spec
from sluice.spec.schema import SCHEMA_NAME, render_schema
from tests.conftest import DEMO_SPEC

GOOD = """\
pipeline: shop
schedule: "@daily"
dbt:
  target: local
zones:
  - name: bronze
    select: [path:models/bronze]
  - name: gold
    select: [path:models/gold]
environments:
  prod:
    dbt: {target: prod}
    defaults: {retries: 3}
"""


def write(tmp_path: Path, text: str, name: str = "p.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def one_error(exc: pytest.ExceptionInfo[SluiceError]) -> str:
    err = exc.value
    lines = [str(e) for e in err.errors] if isinstance(err, SpecErrors) else [str(err)]
    assert len(lines) == 1, lines
    return lines[0]


def test_good_spec_loads_with_defaults(tmp_path: Path) -> None:
    sf = load_spec(write(tmp_path, GOOD))
    assert sf.spec.pipeline == "shop"
    assert [z.name for z in sf.spec.zones] == ["bronze", "gold"]
    assert sf.spec.tests is models.TestMode.AFTER_MODEL
    assert sf.spec.dbt.target == "local"


def test_environment_override_is_merged_key_by_key(tmp_path: Path) -> None:
    sf = load_spec(write(tmp_path, GOOD), "prod")
    assert sf.spec.dbt.target == "prod"
    assert sf.spec.defaults.retries == 3
    assert sf.spec.schedule == "@daily", "keys the override does not name are kept"


def test_environment_comes_from_sluice_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_ENV", "prod")
    assert load_spec(write(tmp_path, GOOD)).spec.dbt.target == "prod"
    monkeypatch.setenv("SLUICE_ENV", "staging")
    with pytest.raises(SluiceError, match="SLUICE_ENV='staging' is not an environment"):
        load_spec(write(tmp_path, GOOD))


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    select: [path:models/gold]", "    selct: [path:models/gold]"))
    with pytest.raises(SpecErrors) as exc:
        load_spec(path)
    lines = [str(e) for e in exc.value.errors]
    assert any(line.startswith(f"{path}:9: zones[1].selct: unknown key") for line in lines)
    assert any("zones[1].select: required key is missing" in line for line in lines)
    assert len(lines) == 2


def test_bad_key_inside_an_environment_points_into_environments(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("dbt: {target: prod}", "dbt: {targett: prod}"))
    with pytest.raises(SpecErrors) as exc:
        load_spec(path, "local")  # every environment is checked, not only the active one
    assert one_error(exc).startswith(f"{path}:12: environments.prod.dbt.targett: unknown key")


def test_bad_selector_method_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("path:models/gold", "folder:models/gold"))
    with pytest.raises(SpecErrors) as exc:
        load_spec(path)
    line = one_error(exc)
    assert line.startswith(f"{path}:9: zones[1].select[0]: unknown selector method 'folder'")


def test_graph_operators_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("path:models/gold", "+path:models/gold"))
    with pytest.raises(SpecErrors, match="graph operators"):
        load_spec(path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('schedule: "@daily"', "schedule: [unclosed"))
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    assert str(exc.value).startswith(f"{path}:3: invalid YAML")


def test_duplicate_key_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "schedule: '@hourly'\n")
    with pytest.raises(SpecError, match=r":14: schedule: key appears twice"):
        load_spec(path)


def test_a_duplicate_zone_is_named_at_its_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: gold", "name: bronze"))
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    assert one_error(exc) == f"{path}:8: zones[1].name: zone 'bronze' is declared twice"


def test_spec_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="a pipeline spec is a YAML mapping"):
        load_spec(write(tmp_path, "- just\n- a list\n"))


def test_committed_json_schema_is_current() -> None:
    committed = DEMO_SPEC.parent / SCHEMA_NAME
    assert committed.read_text() == render_schema(), "run `sluice schema` and commit the result"
    schema = json.loads(committed.read_text())
    assert schema["additionalProperties"] is False
    assert {"pipeline", "zones", "dbt", "environments"} <= set(schema["properties"])


def test_the_chosen_environment_still_lists_every_environment(tmp_path: Path) -> None:
    sf = load_spec(write(tmp_path, GOOD), "prod")
    assert set(sf.spec.environments) == {"prod"}


def test_editors_accept_x_anchor_keys_and_merge_keys() -> None:
    """The JSON Schema editors check against agrees with sluice: x- keys hold anchors."""
    import jsonschema
    import yaml

    schema = json.loads((DEMO_SPEC.parent / SCHEMA_NAME).read_text())
    text = "x-zone: &zone {publish: barrier}\npipeline: p\nzones:\n  - <<: *zone\n    name: a\n"
    text += "    select: [x]\n"
    jsonschema.validate(yaml.safe_load(text), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(text.replace("x-zone", "y-zone")), schema)


def test_every_pipeline_key_but_its_identity_and_zones_can_be_overridden(tmp_path: Path) -> None:
    """The override is derived from the pipeline: a key the pipeline gains is not refused under
    environments: (start_date once was, because nobody copied it)."""
    path = write(tmp_path, GOOD.replace("    defaults: {retries: 3}", "    start_date: 2025-06-01"))
    assert str(load_spec(path, "prod").spec.start_date) == "2025-06-01"
    assert str(load_spec(path, "local").spec.start_date) == "2024-01-01"
    pipeline_keys = set(models.PipelineSpec.model_fields) - {"pipeline", "zones", "environments"}
    assert set(models.EnvironmentOverride.model_fields) == pipeline_keys


def test_an_override_keeps_the_pipeline_keys_bounds_and_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    defaults: {retries: 3}", "    max_active_runs: 0"))
    with pytest.raises(SpecErrors) as exc:
        load_spec(path)
    assert one_error(exc).startswith(f"{path}:13: environments.prod.max_active_runs: ")
    path = write(tmp_path, GOOD.replace("    defaults: {retries: 3}", "    zones: []"))
    with pytest.raises(SpecErrors) as exc:
        load_spec(path)
    assert one_error(exc).startswith(f"{path}:13: environments.prod.zones: unknown key")
