"""The demo project's redshift target: credentials only from the environment (as the Snowflake
targets), an adapter sluice publishes atomically on, and variables that tell warm dbt workers of
two Redshift environments apart. tests/integration/test_redshift_target.py has real dbt render
it, and tests/infra/test_warehouse_sql.py parses the project's portable expressions as Redshift
renders them."""

from __future__ import annotations

import re

from sluice.runtime.dbt import adapter_type
from sluice.runtime.dbt_profiles import target_output
from sluice.runtime.dbt_worker_home import profile_env_names
from sluice.runtime.publish import Engine, publisher_for
from tests.conftest import REPO

DBT = REPO / "dbt"
ENV_ONLY = re.compile(r"""\{\{ env_var\('[A-Z_]+'(, '[^']*')?\)( \| as_number)? \}\}""")


def test_the_redshift_target_is_published_atomically_by_the_redshift_publisher() -> None:
    kind = adapter_type(DBT, DBT, "redshift")
    assert kind == "redshift"
    assert publisher_for(kind).engine is Engine.REDSHIFT


def test_every_redshift_connection_value_comes_from_the_environment() -> None:
    output = target_output(DBT, DBT, "redshift")
    assert output is not None
    fixed = {"type": "redshift", "sslmode": "verify-full", "threads": 8}
    for key, value in output.items():
        if key in fixed:
            assert value == fixed[key], key
        else:
            assert isinstance(value, str) and ENV_ONLY.fullmatch(value), f"{key}: {value!r}"
    # the password has no default but empty: nothing secret is written in the repository
    assert output["password"] == "{{ env_var('REDSHIFT_PASSWORD', '') }}"


def test_two_redshift_environments_get_warm_workers_of_their_own() -> None:
    names = profile_env_names(DBT, DBT, "redshift")
    assert {"REDSHIFT_HOST", "REDSHIFT_USER", "REDSHIFT_PASSWORD", "REDSHIFT_DATABASE"} <= names
    assert not {n for n in names if n.startswith("SNOWFLAKE_")}
