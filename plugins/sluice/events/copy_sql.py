"""The COPY statement that loads one S3 object into a load table, on Redshift and on Snowflake.

Pure: names and an object in, one statement out; the load task runs it on dbt's or its own
connection, inside the transaction that also writes the load ledger. Every name is a quoted
identifier and every value a string literal with its quotes and backslashes escaped (both
engines read a backslash in a literal as an escape), so no table, bucket key, role or stage
name can end the statement or change it. Names are quoted exactly as given: pass the names the
warehouse stores (on Snowflake, upper case for a table created unquoted).

- Redshift: ``COPY table FROM 's3://bucket/key' IAM_ROLE ... FORMAT AS JSON 'auto' | CSV |
  PARQUET``. Redshift reads the FROM path as a *prefix* and loads every object it starts (a
  ``x.json`` also loads ``x.json.1``): :func:`prefix_siblings` names the keys that would come
  along, and with ``manifest_url`` the COPY loads exactly the objects listed in a manifest
  written by :func:`redshift_manifest` (a Parquet entry carries the object's size, which
  Redshift requires there).
- Snowflake: ``COPY INTO table FROM @stage FILES = ('path') FILE_FORMAT = (...)``: ``FILES``
  names exactly one file. The stage's names must be plain identifiers (Snowflake reads ``@...``
  up to the first space or special character, quoted or not); table and path may hold
  anything. ``FORCE = TRUE``, because what is loaded is the ledger's business: a load that
  crashed after its COPY and before its commit must load the file again, which Snowflake's own
  64-day load history would otherwise skip as already loaded.

Redshift cannot run here: the statements are proven by tests (tests/unit/test_copy_sql.py,
names read back by sqlglot's tokenizers) and parsed by sqlfluff's redshift and snowflake
dialects (tests/infra/test_warehouse_sql.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sluice.errors import SluiceError
from sluice.events.models import FileFormat

#: an S3 bucket name (general purpose buckets): lower-case letters, digits, dots and hyphens
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: an IAM role ARN, in any partition (aws, aws-cn, aws-us-gov)
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
#: an AWS region name
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")
#: a Snowflake identifier that needs no quotes; a stage reference (@...) takes only these
PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
COMPRESSION = {".gz": "gzip", ".bz2": "bzip2", ".zst": "zstd", ".lzo": "lzop"}


class CopySqlError(SluiceError):
    """A COPY statement could not be written for these names (one line: what, and how to fix)."""


class JsonMode(StrEnum):
    """How Redshift maps a JSON object to columns: ``auto`` by name, ``auto ignorecase`` by name
    in any case, ``noshred`` the whole object into the table's one SUPER column."""

    AUTO = "auto"
    AUTO_IGNORECASE = "auto ignorecase"
    NOSHRED = "noshred"


@dataclass(frozen=True)
class S3Object:
    """One object in S3; ``size`` in bytes (a Redshift manifest needs it to load Parquet)."""

    bucket: str
    key: str
    size: int | None = None

    @property
    def url(self) -> str:
        if not BUCKET.fullmatch(self.bucket) or ".." in self.bucket:
            raise CopySqlError(
                f"S3 bucket name {self.bucket!r} is not a bucket name (3 to 63 lower-case letters, "
                "digits, dots and hyphens); check the stream's bucket"
            )
        if not self.key or self.key.startswith("/"):
            raise CopySqlError(f"S3 key {self.key!r} in bucket {self.bucket} is empty or starts with /")
        return f"s3://{self.bucket}/{self.key}"


def ident(name: str) -> str:
    """One name as a quoted identifier, exactly as written."""
    if not name:
        raise CopySqlError("an empty name cannot be quoted; name the table, schema or stage")
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A string literal of Redshift and Snowflake: quotes doubled, backslashes doubled."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def qualified(parts: Sequence[str]) -> str:
    if not parts:
        raise CopySqlError("no table named: give schema and table (or database, schema and table)")
    return ".".join(ident(p) for p in parts)


def prefix_siblings(key: str, keys: Iterable[str]) -> list[str]:
    """The other keys a Redshift ``COPY ... FROM 's3://bucket/<key>'`` would load as well: it reads
    the path as a prefix. Non-empty means: load through a manifest."""
    return sorted(k for k in keys if k != key and k.startswith(key))


def redshift_manifest(objects: Sequence[S3Object], fmt: FileFormat) -> str:
    """A Redshift COPY manifest listing exactly ``objects``, each mandatory (a missing one fails
    the COPY rather than loading less), with its size when known (required for Parquet)."""
    entries = []
    for obj in objects:
        if fmt is FileFormat.PARQUET and obj.size is None:
            raise CopySqlError(
                f"{obj.url}: a Redshift manifest entry of a Parquet file needs its size in bytes "
                "(meta.content_length); pass the object's size from its S3 listing"
            )
        entry: dict[str, object] = {"url": obj.url, "mandatory": True}
        if obj.size is not None:
            entry["meta"] = {"content_length": obj.size}
        entries.append(entry)
    return json.dumps({"entries": entries}, ensure_ascii=False, sort_keys=True)


def redshift_copy(
    table: Sequence[str],
    obj: S3Object,
    fmt: FileFormat,
    iam_role: str,
    *,
    columns: Sequence[str] = (),
    json_mode: JsonMode = JsonMode.AUTO,
    region: str | None = None,
    manifest_url: str | None = None,
) -> str:
    """``COPY`` of one object into ``table`` (``[schema, table]``), as ``iam_role`` (a role ARN
    associated with the namespace or cluster, or ``default`` for its default role). With
    ``manifest_url`` (an ``s3://`` URL of :func:`redshift_manifest`'s output) Redshift loads
    exactly what the manifest lists instead of every key the object's key starts."""
    source = obj.url if manifest_url is None else _manifest(manifest_url)
    out = [f"copy {qualified(table)}"]
    if columns:
        out.append("(" + ", ".join(ident(c) for c in columns) + ")")
    out += [f"from {literal(source)}", f"iam_role {_role(iam_role)}"]
    if manifest_url is not None:
        out.append("manifest")
    if region is not None:
        if not REGION.fullmatch(region):
            raise CopySqlError(f"{region!r} is not an AWS region name (like eu-west-1)")
        out.append(f"region {literal(region)}")
    out += _redshift_format(fmt, json_mode, obj.key)
    # a load table is scratch: no compression analysis or statistics on every file
    out += ["compupdate off", "statupdate off"]
    return " ".join(out)


def _manifest(url: str) -> str:
    if not url.startswith("s3://"):
        raise CopySqlError(f"manifest {url!r} is not an s3:// URL")
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return S3Object(bucket, key).url


def _role(iam_role: str) -> str:
    if iam_role == "default":
        return "default"
    if not ROLE_ARN.fullmatch(iam_role):
        raise CopySqlError(
            f"{iam_role!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>) or 'default'; "
            "give the role the Redshift namespace may assume to read the event bucket"
        )
    return literal(iam_role)


def _redshift_format(fmt: FileFormat, json_mode: JsonMode, key: str) -> list[str]:
    if fmt is FileFormat.PARQUET:
        return ["format as parquet"]  # compressed inside the file; no other option applies
    if fmt is FileFormat.JSONL:
        out = [f"format as json {literal(json_mode.value)}"]
    else:
        out = ["format as csv", "ignoreheader 1"]
    compression = next((c for suffix, c in COMPRESSION.items() if key.lower().endswith(suffix)), None)
    if compression:
        out.append(compression)
    out += ["timeformat 'auto'", "dateformat 'auto'"]
    return out


def snowflake_copy(table: Sequence[str], stage: Sequence[str], path: str, fmt: FileFormat) -> str:
    """``COPY INTO`` of the one file ``path`` (relative to the stage's location) of ``stage``
    (``[database, schema, stage]``) into ``table`` (``[database, schema, table]``): JSON lines
    into the table's one VARIANT column, CSV by column position, Parquet by column name."""
    if not path or path.startswith("/"):
        raise CopySqlError(f"stage path {path!r} is empty or starts with /; give it relative to the stage")
    odd = [part for part in stage if not PLAIN.fullmatch(part)]
    if odd:
        # Snowflake reads @... up to the first space or special character, quoted or not
        raise CopySqlError(
            f"Snowflake stage name part {odd[0]!r} is not a plain identifier (letters, digits, _ and $, "
            "not starting with a digit); name the event stage plainly in terraform and the stream"
        )
    out = [
        f"copy into {qualified(table)}",
        f"from @{qualified(stage)}",
        f"files = ({literal(path)})",
        f"file_format = ({_snowflake_format(fmt)})",
    ]
    if fmt is FileFormat.PARQUET:
        out.append("match_by_column_name = case_insensitive")
    out += ["on_error = abort_statement", "force = true"]
    return " ".join(out)


def _snowflake_format(fmt: FileFormat) -> str:
    if fmt is FileFormat.JSONL:
        return "type = json"
    if fmt is FileFormat.CSV:
        return "type = csv skip_header = 1 field_optionally_enclosed_by = '\"'"
    return "type = parquet"
