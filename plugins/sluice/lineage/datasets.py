"""A task's OpenLineage inputs and outputs: a dbt model, seed or snapshot task reads its parents
and writes its own relation (with the manifest's columns as a schema facet); a test task reads
the relations it tests, with each test as a data-quality assertion; a publish writes its zone's
relations as new versions; a sync writes the raw tables it loads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    documentation_dataset,
    lifecycle_state_change_dataset,
    output_statistics_output_dataset,
    schema_dataset,
)
from openlineage.common.provider.dbt.facets import DbtExposure, DbtExposuresDatasetFacet

from sluice.lineage.nodes import LineageNodes, Relation

Datasets = tuple[list[InputDataset], list[OutputDataset]]


def _facets(relation: Relation) -> dict[str, DatasetFacet]:
    facets: dict[str, DatasetFacet] = {}
    if relation.columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type, description=c.description)
                for c in relation.columns
            ]
        )
    if relation.exposures:  # as OpenLineage's dbt integration names them: table -> dashboard
        facets["dbt_exposures"] = DbtExposuresDatasetFacet(
            exposures=[DbtExposure(e.unique_id, e.name, e.type, e.url) for e in relation.exposures]
        )
    if relation.description:
        facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
            description=relation.description
        )
    return facets


def _input(
    namespace: str, relation: Relation, input_facets: dict[str, InputDatasetFacet] | None = None
) -> InputDataset:
    return InputDataset(namespace, relation.name, facets=_facets(relation), inputFacets=input_facets or {})


def _output(
    namespace: str, relation: Relation, facets: dict[str, DatasetFacet] | None = None
) -> OutputDataset:
    return OutputDataset(namespace, relation.name, facets={**_facets(relation), **(facets or {})})


def dbt_task_datasets(
    nodes: LineageNodes,
    namespace: str,
    selectors: Sequence[str],
    passed: Mapping[str, bool] | None = None,
) -> Datasets:
    """What a dbt task over ``selectors`` reads and writes. ``passed``, each selector's outcome,
    is given once the task ended: its tests become assertions (one it lacks counts as failed)."""
    chosen = {nodes.by_selector[s]: s for s in selectors if s in nodes.by_selector}
    inputs: dict[str, InputDataset] = {}
    outputs: list[OutputDataset] = []
    assertions: dict[str, list[data_quality_assertions_dataset.Assertion]] = {}
    for unique_id, selector in chosen.items():
        test = nodes.tests.get(unique_id)
        if test is not None:
            success = bool(passed and passed.get(selector))
            for tested in test.tests:
                if tested in nodes.relations:
                    assertions.setdefault(tested, []).append(
                        data_quality_assertions_dataset.Assertion(
                            assertion=test.assertion,
                            success=success,
                            column=test.column,
                            severity=test.severity,
                            name=test.name,
                        )
                    )
            continue
        relation = nodes.relations.get(unique_id)
        if relation is None:
            continue
        outputs.append(_output(namespace, relation))
        for parent in nodes.nodes[unique_id].parents:
            if parent in nodes.relations and parent not in chosen and parent not in inputs:
                inputs[parent] = _input(namespace, nodes.relations[parent])
    for tested, found in assertions.items():
        facet = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=found)
        facets: dict[str, InputDatasetFacet] | None = (
            {"dataQualityAssertions": facet} if passed is not None else None
        )
        inputs[tested] = _input(namespace, nodes.relations[tested], facets)
    return list(inputs.values()), outputs


def published_datasets(
    nodes: LineageNodes, namespace: str, relations: Iterable[str], version: str
) -> Datasets:
    """A zone's publish: each relation it swaps live (``schema.table``) as a new version."""
    wanted = {r.lower() for r in relations}
    outputs = [
        _output(
            namespace,
            relation,
            {
                "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version),
                "lifecycleStateChange": lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
                    lifecycleStateChange=lifecycle_state_change_dataset.LifecycleStateChange.OVERWRITE
                ),
            },
        )
        for relation in nodes.relations.values()
        if relation.schema_table in wanted
    ]
    return [], outputs


def loaded_datasets(namespace: str, tables: Mapping[str, int | None]) -> Datasets:
    """A sync's raw tables (``database.schema.table`` -> rows loaded, None when unknown)."""
    statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
    outputs = [
        OutputDataset(
            namespace,
            name,
            outputFacets={} if rows is None else {"outputStatistics": statistics(rowCount=rows)},
        )
        for name, rows in tables.items()
    ]
    return [], outputs
