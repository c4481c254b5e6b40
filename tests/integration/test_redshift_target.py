"""The demo project's redshift target, rendered by real dbt with dbt-redshift: the profile's values
from the environment are ones dbt-redshift accepts, and the whole project parses for it. No
Redshift runs here, and parse opens no connection; the SQL sluice sends to Redshift is proven in
tests/unit/test_publish_names.py, test_copy_sql.py and tests/infra/test_warehouse_sql.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration
DBT = Path(sys.executable).parent / "dbt"


def test_the_demo_project_parses_for_the_redshift_target(tmp_path: Path) -> None:
    project = tmp_path / "dbt"
    shutil.copytree(REPO / "dbt", project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
    env = {
        "PATH": str(DBT.parent),
        "HOME": str(tmp_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "REDSHIFT_HOST": "sluice-dev.123456789012.eu-west-1.redshift-serverless.amazonaws.com",
        "REDSHIFT_USER": "dbt",
        "REDSHIFT_PASSWORD": "not-a-real-password",
    }
    done = subprocess.run(
        [
            str(DBT),
            "parse",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target",
            "redshift",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "redshift"
    # the sluice macros ship with the project, as an atomic zone on Redshift needs them
    assert "macro.payments.sluice_describe" in manifest["macros"]
    assert "not-a-real-password" not in (project / "target" / "manifest.json").read_text()
