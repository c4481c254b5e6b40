"""COPY statements for one S3 object: the exact SQL per engine and format, and hostile names read
back by sqlglot's tokenizers for Redshift and Snowflake (both read a backslash in a literal as an
escape), an oracle independent of sluice's quoting. sqlfluff parses the same statements in
tests/infra/test_warehouse_sql.py."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import sqlglot
from sqlglot.tokens import TokenType

from sluice.errors import SluiceError
from sluice.events.copy_sql import (
    CopySqlError,
    FileFormat,
    JsonMode,
    S3Object,
    prefix_siblings,
    redshift_copy,
    redshift_manifest,
    snowflake_copy,
)

ROLE = "arn:aws:iam::123456789012:role/sluice-dev-redshift-copy"
HOSTILE = [
    "o'brien",
    'say "hi"',
    "x'; drop table sentinel; --",
    "back\\slash",
    "ends with backslash\\",
    "\\'",
    "with space",
    "ünïcödé",
    "MiXeD",
    "select",
    "we.ird",
]


def read_back(sql: str, dialect: str) -> tuple[list[str], list[str], list[str]]:
    """(identifiers, string values, every other token) as the dialect's tokenizer reads them."""
    tokens = sqlglot.tokenize(sql, read=dialect)
    names = [t.text for t in tokens if t.token_type is TokenType.IDENTIFIER]
    values = [t.text for t in tokens if t.token_type is TokenType.STRING]
    rest = [t.text.lower() for t in tokens if t.token_type not in (TokenType.IDENTIFIER, TokenType.STRING)]
    return names, values, rest


def test_redshift_copies_json_lines_csv_and_parquet() -> None:
    events = S3Object("sluice-dev-events", "payments/2026/12/02/a.json.gz")
    assert redshift_copy(["raw", "payment_status_events"], events, FileFormat.JSONL, ROLE) == (
        'copy "raw"."payment_status_events" '
        "from 's3://sluice-dev-events/payments/2026/12/02/a.json.gz' "
        f"iam_role '{ROLE}' format as json 'auto' gzip timeformat 'auto' dateformat 'auto' "
        "compupdate off statupdate off"
    )
    csv = S3Object("sluice-dev-events", "payments/a.csv")
    assert redshift_copy(["raw", "e"], csv, FileFormat.CSV, "default", columns=["id", "status"]) == (
        'copy "raw"."e" ("id", "status") from \'s3://sluice-dev-events/payments/a.csv\' iam_role default '
        "format as csv ignoreheader 1 timeformat 'auto' dateformat 'auto' compupdate off statupdate off"
    )
    parquet = S3Object("sluice-dev-events", "payments/a.parquet", size=1024)
    assert redshift_copy(
        ["raw", "e"],
        parquet,
        FileFormat.PARQUET,
        ROLE,
        region="eu-west-1",
        manifest_url="s3://m-b/x.manifest",
    ) == (
        f"copy \"raw\".\"e\" from 's3://m-b/x.manifest' iam_role '{ROLE}' manifest region 'eu-west-1' "
        "format as parquet compupdate off statupdate off"
    )
    whole = redshift_copy(["raw", "e"], events, FileFormat.JSONL, ROLE, json_mode=JsonMode.NOSHRED)
    assert "format as json 'noshred' gzip" in whole


def test_snowflake_copies_exactly_one_file_and_loads_it_again_when_told() -> None:
    table, stage = ["ANALYTICS", "RAW", "PAYMENT_STATUS_EVENTS"], ["ANALYTICS", "RAW", "EVENTS"]
    assert snowflake_copy(table, stage, "payments/a.json", FileFormat.JSONL) == (
        'copy into "ANALYTICS"."RAW"."PAYMENT_STATUS_EVENTS" from @"ANALYTICS"."RAW"."EVENTS" '
        "files = ('payments/a.json') file_format = (type = json) on_error = abort_statement force = true"
    )
    assert "file_format = (type = csv skip_header = 1 field_optionally_enclosed_by = '\"')" in (
        snowflake_copy(table, stage, "a.csv", FileFormat.CSV)
    )
    parquet = snowflake_copy(table, stage, "a.parquet", FileFormat.PARQUET)
    assert "file_format = (type = parquet) match_by_column_name = case_insensitive" in parquet


@pytest.mark.parametrize("name", HOSTILE)
def test_redshift_copy_names_exactly_its_table_object_and_role_whatever_they_are_called(name: str) -> None:
    obj = S3Object("sluice-dev-events", f"payments/{name}.json")
    sql = redshift_copy([name, name + "_t"], obj, FileFormat.JSONL, ROLE, columns=[name])
    names, values, rest = read_back(sql, "redshift")
    assert names == [name, name + "_t", name]
    assert values == [f"s3://sluice-dev-events/payments/{name}.json", ROLE, "auto", "auto", "auto"]
    assert ";" not in rest and rest[:2] == ["copy", "."]


@pytest.mark.parametrize("name", HOSTILE)
def test_snowflake_copy_names_exactly_its_table_stage_and_file_whatever_they_are_called(name: str) -> None:
    sql = snowflake_copy(["DB", name, name], ["DB", "RAW", "EVENTS_$1"], f"p/{name}.csv", FileFormat.CSV)
    names, values, rest = read_back(sql, "snowflake")
    assert names == ["DB", name, name, "DB", "RAW", "EVENTS_$1"]
    assert values == [f"p/{name}.csv", '"']
    assert ";" not in rest
    # Snowflake reads a stage reference up to its first space or special character, quoted or not
    if name not in ("MiXeD", "select"):
        with pytest.raises(CopySqlError, match=r"stage name part .* is not a plain identifier"):
            snowflake_copy(["DB", "RAW", "T"], ["DB", "RAW", name], "p/a.csv", FileFormat.CSV)


def test_manifest_lists_exactly_the_objects_each_mandatory() -> None:
    objects = [S3Object("b-1", "p/a'b\\c.parquet", 10), S3Object("b-1", "p/ü.parquet", 20)]
    assert json.loads(redshift_manifest(objects, FileFormat.PARQUET)) == {
        "entries": [
            {"url": "s3://b-1/p/a'b\\c.parquet", "mandatory": True, "meta": {"content_length": 10}},
            {"url": "s3://b-1/p/ü.parquet", "mandatory": True, "meta": {"content_length": 20}},
        ]
    }
    with pytest.raises(CopySqlError, match=r"needs its size in bytes"):
        redshift_manifest([S3Object("b-1", "p/a.parquet")], FileFormat.PARQUET)
    assert "meta" not in redshift_manifest([S3Object("b-1", "a.json")], FileFormat.JSONL)


def test_prefix_siblings_are_what_a_redshift_copy_of_one_key_would_also_load() -> None:
    keys = ["p/a.json", "p/a.json.1", "p/a.json/x", "p/b.json", "p/a.jso"]
    assert prefix_siblings("p/a.json", keys) == ["p/a.json.1", "p/a.json/x"]
    assert prefix_siblings("p/b.json", keys) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: S3Object("Bad_Bucket", "k").url, "is not a bucket name"),
        (lambda: S3Object("a..b", "k").url, "is not a bucket name"),
        (lambda: S3Object("b-1", "").url, "is empty or starts with /"),
        (
            lambda: redshift_copy(["raw", "e"], S3Object("b-1", "k"), FileFormat.CSV, "r' ; drop"),
            "is not an IAM role ARN",
        ),
        (
            lambda: redshift_copy(["raw", "e"], S3Object("b-1", "k"), FileFormat.CSV, ROLE, region="x'"),
            "is not an AWS region name",
        ),
        (
            lambda: redshift_copy(
                ["raw", "e"], S3Object("b-1", "k"), FileFormat.CSV, ROLE, manifest_url="https://x/m"
            ),
            "is not an s3:// URL",
        ),
        (lambda: redshift_copy([], S3Object("b-1", "k"), FileFormat.CSV, ROLE), "no table named"),
        (lambda: redshift_copy(["raw", ""], S3Object("b-1", "k"), FileFormat.CSV, ROLE), "empty name"),
        (lambda: snowflake_copy(["D", "R", "T"], ["D", "R", "S"], "/abs", FileFormat.CSV), "relative"),
    ],
)
def test_bad_inputs_are_one_line_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(CopySqlError, match=message) as err:
        call()
    assert isinstance(err.value, SluiceError) and "\n" not in str(err.value)
