"""tools/secret_env.py: a Secrets Manager JSON secret becomes shell exports, safely quoted."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from types import ModuleType

import pytest

from tests.infra.hcl import REPO


def secret_env() -> ModuleType:
    spec = importlib.util.spec_from_file_location("secret_env", REPO / "tools" / "secret_env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_values_survive_the_shell_exactly() -> None:
    values = {"SOURCE_PG_PASSWORD": 'it\'s $HOME; `rm -rf /` "x"', "AIRBYTE_CLIENT_ID": "abc 123"}
    lines = secret_env().exports(json.dumps(values), "sluice/dev/airbyte/apply")
    script = "\n".join(lines) + '\nprintf "%s\\n%s" "$SOURCE_PG_PASSWORD" "$AIRBYTE_CLIENT_ID"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout == f"{values['SOURCE_PG_PASSWORD']}\n{values['AIRBYTE_CLIENT_ID']}"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("not json", "not a JSON object"),
        ('["A"]', "not a JSON object"),
        ('{"lower_case": "x"}', "key 'lower_case' must be an UPPER_CASE name"),
        ('{"PORT": 5432}', "key 'PORT' must be an UPPER_CASE name with a string value"),
    ],
)
def test_a_malformed_secret_is_one_line_naming_the_secret(secret: str, message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        secret_env().exports(secret, "sluice/dev/airbyte/apply")
    text = str(exc.value)
    assert text.startswith("sluice/dev/airbyte/apply: ") and message in text
    assert "\n" not in text
