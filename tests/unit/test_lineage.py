"""Lineage datasets from the demo manifest and dbt targets, without Airflow running."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from sluice.airflow import lineage
from sluice.airflow.lineage import emit_ended
from sluice.errors import SluiceError
from sluice.lineage.datasets import dbt_task_datasets, published_datasets
from sluice.lineage.naming import target_namespace
from sluice.lineage.nodes import lineage_nodes
from tests.conftest import DEMO_MANIFEST

NS = "duckdb:///w.duckdb"


def profiles(tmp_path: Path, output: str) -> Path:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    (tmp_path / "profiles.yml").write_text(f"p:\n  target: t\n  outputs:\n    t:\n{output}")
    return tmp_path


@pytest.mark.parametrize(
    ("output", "namespace"),
    [
        (
            "      type: postgres\n      host: \"{{ env_var('LINEAGE_PG_HOST', 'db.internal') }}\"\n"
            "      port: \"{{ env_var('LINEAGE_PG_PORT', '6432') | as_number }}\"\n"
            "      user: admin\n      password: \"{{ env_var('LINEAGE_PG_PASSWORD', 's3cret') }}\"\n",
            "postgres://db.internal:6432",
        ),
        ("      type: postgres\n      host: h\n      user: u\n      password: p\n", "postgres://h:5432"),
        (
            "      type: snowflake\n      account: XY12345.EU-WEST-1\n      password: p\n",
            "snowflake://xy12345.eu-west-1",
        ),
        (
            "      type: redshift\n      host: c.r.redshift.amazonaws.com\n",
            "redshift://c.r.redshift.amazonaws.com:5439",
        ),
        # an env var this process lacks: the target's name, never a guess
        ("      type: snowflake\n      account: \"{{ env_var('LINEAGE_UNSET_ACCOUNT') }}\"\n", "dbt://t"),
    ],
)
def test_a_targets_namespace_names_where_its_data_is_and_nothing_secret(
    tmp_path: Path, output: str, namespace: str
) -> None:
    folder = profiles(tmp_path, output)
    got = target_namespace(folder, folder, "t")
    assert got == namespace
    assert "s3cret" not in got and "admin" not in got


def test_a_duckdb_target_is_named_by_its_file(tmp_path: Path) -> None:
    folder = profiles(tmp_path, "      type: duckdb\n      path: target/w.duckdb\n")
    assert target_namespace(folder, folder, "t") == f"duckdb://{folder.resolve() / 'target' / 'w.duckdb'}"


def test_a_model_task_reads_its_parents_and_writes_its_relation_with_columns() -> None:
    nodes = lineage_nodes(DEMO_MANIFEST)
    inputs, outputs = dbt_task_datasets(nodes, NS, ["fqn:payments.gold.customer_balances"])
    (out,) = outputs
    assert out.name.endswith(".gold.customer_balances") and out.namespace == NS
    assert {"customer_id", "balance"} <= {f.name for f in out.facets["schema"].fields}
    assert {i.name.split(".")[-1] for i in inputs} >= {"customers", "accounts"}


def test_a_test_tasks_outcomes_become_assertions_on_the_relation_it_tests() -> None:
    nodes = lineage_nodes(DEMO_MANIFEST)
    unique = "fqn:payments.gold.unique_customer_balances_customer_id"
    not_null = "fqn:payments.gold.not_null_customer_balances_customer_id"
    before, _ = dbt_task_datasets(nodes, NS, [unique, not_null])
    assert before and not before[0].inputFacets, "no assertion before the tests ran"
    (tested,), outputs = dbt_task_datasets(nodes, NS, [unique, not_null], {unique: True})
    assert outputs == []
    assert tested.name.endswith(".customer_balances")
    found = {
        (a.assertion, a.column, a.success) for a in tested.inputFacets["dataQualityAssertions"].assertions
    }
    # a test the outcome does not name counts as failed: a failed task says no more of it
    assert found == {("unique", "customer_id", True), ("not_null", "customer_id", False)}


def test_a_publish_writes_each_relation_of_its_zone_as_a_new_version() -> None:
    nodes = lineage_nodes(DEMO_MANIFEST)
    _, outputs = published_datasets(nodes, NS, ["gold.customer_balances", "gold.fraud_flags"], "d/r1")
    assert {o.name.split(".")[-1] for o in outputs} == {"customer_balances", "fraud_flags"}
    assert {o.facets["version"].datasetVersion for o in outputs} == {"d/r1"}


@pytest.mark.parametrize("content", [b"", b"{", b'{"nodes": []}', b"\xff\xfe"])
def test_a_manifest_lineage_cannot_read_is_one_line_naming_the_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_bytes(content)
    with pytest.raises(SluiceError) as caught:
        lineage_nodes(bad)
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)


def test_lineage_the_triggerer_cannot_send_is_logged_and_never_fails_the_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps({"type": "console"}))
    head = {
        "manifest": str(tmp_path / "gone.json"),
        "namespace": NS,
        "logical_date": "2026-12-01T00:00:00+00:00",
    }
    ti = SimpleNamespace(dag_id="d", task_id="gold.m_run", try_number=1, map_index=-1)
    said: list[str] = []
    monkeypatch.setattr(lineage.log, "warning", lambda fmt, *args: said.append(fmt % args))
    emit_ended(head, ti, {"fqn:p.m": {"status": "success", "seconds": 1.0}})
    (line,) = said
    assert "gold.m_run not sent" in line and "gone.json" in line
