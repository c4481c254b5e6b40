"""The OpenLineage namespace of a dbt target: where its datasets live, never who connects.

OpenLineage's naming spec: PostgreSQL ``postgres://{host}:{port}``, Redshift
``redshift://{host}:{port}``, Snowflake ``snowflake://{account}``, each with datasets named
``{database}.{schema}.{table}``; DuckDB, which the spec does not list, as OpenLineage's dbt
integration names it: ``duckdb://{file}``. No user, password or key is ever part of a namespace.
"""

from __future__ import annotations

from pathlib import Path

from sluice.runtime.dbt_profiles import profile_duckdb_path, render_profile_value, target_output

DEFAULT_PORTS = {"postgres": 5432, "redshift": 5439}


def target_namespace(project_dir: Path, profiles_dir: Path, target: str) -> str:
    """The namespace of ``target``'s datasets; ``dbt://<target>`` when profiles.yml cannot tell
    (a missing file, an env var not set in this process), so lineage still names them stably."""
    output = target_output(project_dir, profiles_dir, target) or {}
    kind = str(output.get("type") or "")
    if kind == "duckdb":
        path = profile_duckdb_path(project_dir, profiles_dir, target)
        return f"duckdb://{path.resolve()}" if path is not None else f"dbt://{target}"
    if kind in DEFAULT_PORTS:
        host, port = _value(output, "host"), _value(output, "port") or str(DEFAULT_PORTS[kind])
        return f"{kind}://{host}:{port}" if host else f"dbt://{target}"
    if kind == "snowflake":
        account = _value(output, "account")
        return f"snowflake://{account.lower()}" if account else f"dbt://{target}"
    host = _value(output, "host")
    return f"{kind}://{host}" if kind and host else f"dbt://{target}"


def _value(output: dict[str, object], key: str) -> str:
    raw = output.get(key)
    if raw is None:
        return ""
    try:
        return render_profile_value(str(raw)).strip()
    except Exception:  # an env var this process lacks: the namespace says only the target
        return ""


def dataset_name(database: str | None, schema: str | None, table: str) -> str:
    """``database.schema.table``, leaving out the parts dbt left empty."""
    return ".".join(part for part in (database, schema, table) if part)
