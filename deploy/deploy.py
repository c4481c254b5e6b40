"""`make deploy ENV=dev`: put the package from `make package` on an MWAA environment.

1. dags/ is synced to s3://<bucket>/dags/: changed files uploaded, removed ones deleted. MWAA picks
   DAG files up by itself, so a DAG-only change needs nothing more.
2. plugins.zip, requirements.txt and startup.sh are uploaded when their bytes changed, and their
   S3 object versions read back.
3. update-environment is called only when one of those versions (or paths) differs from what
   get-environment reports: it restarts every Airflow component, which takes MWAA many minutes.
   Until it is done the new DAG files are parsed by the old plugins.zip: a change that needs
   both should be deployed with WAIT and checked after.

Settings per environment: deploy/environments.yml. AWS credentials come from the environment
(the CI job's OIDC role, a profile on a laptop); AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_MWAA point
the clients elsewhere (the tests' local S3).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from deploy.environments import ENVIRONMENTS_FILE, Target, read_target
from deploy.lockfile import read_lock
from sluice.errors import DeployError

REPO = Path(__file__).resolve().parents[1]
DAGS_PREFIX = "dags"
ARTEFACTS = (
    ("plugins.zip", "Plugins"),
    ("requirements.txt", "Requirements"),
    ("startup.sh", "StartupScript"),
)
"""bundle file (also its key in the bucket) and the MWAA field prefix for its path and version"""
UPDATABLE = ("AVAILABLE", "UPDATE_FAILED")
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


@dataclass
class Report:
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    versions: dict[str, str] = field(default_factory=dict)
    updated: dict[str, str] = field(default_factory=dict)
    """the update-environment arguments, empty when it was not called"""


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """An AWS failure as one line naming ``what`` (bucket, environment) and the service's status."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "error")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        hint = {
            "NoSuchBucket": "no such bucket",
            "404": "no such bucket",
            "AccessDenied": "access denied; check the deploy role's permissions",
            "403": "access denied; check the deploy role's permissions",
            "ResourceNotFoundException": "no such MWAA environment in this region",
        }.get(code, error.get("Message") or code)
        raise DeployError(f"{what}: {hint} ({exc.operation_name}: {code}, HTTP {status})") from None
    except NoCredentialsError:
        raise DeployError(
            f"{what}: no AWS credentials (set a profile, or run in the CI job's role)"
        ) from None
    except BotoCoreError as exc:
        raise DeployError(f"{what}: {exc}") from None


def _digests(path: Path) -> tuple[str, str]:
    """(MD5, SHA-256) of a file: S3's ETag for a plain upload, and the one we store as metadata."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def _same(local: tuple[str, str], etag: str | None, metadata: dict[str, str] | None) -> bool:
    """Same bytes: the ETag is the MD5 for plain uploads; under SSE-KMS it is not, so the SHA-256
    we stored at upload decides (and a missing one means upload again)."""
    md5, sha = local
    return (etag or "").strip('"') == md5 or (metadata or {}).get("sha256") == sha


def _put(s3: Any, bucket: str, key: str, path: Path, digests: tuple[str, str]) -> str | None:
    with path.open("rb") as body:
        done = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"sha256": digests[1]})
    version = done.get("VersionId")
    return str(version) if version else None


def check_bucket(s3: Any, bucket: str) -> None:
    """The bucket exists, we may read it, and it keeps versions (MWAA needs object versions)."""
    with aws_errors(f"s3://{bucket}"):
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        raise DeployError(f"s3://{bucket}: versioning is not enabled; MWAA needs object versions")


def sync_dags(s3: Any, bucket: str, dags: Path, report: Report) -> None:
    """s3://bucket/dags/ becomes a copy of ``dags``: changed files uploaded, extra keys deleted."""
    prefix = f"{DAGS_PREFIX}/"
    remote: dict[str, str] = {}
    with aws_errors(f"s3://{bucket}/{prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                remote[obj["Key"]] = obj.get("ETag", "")
        local = {prefix + p.relative_to(dags).as_posix(): p for p in sorted(dags.rglob("*")) if p.is_file()}
        for key, path in local.items():
            digests = _digests(path)
            if key in remote and _same(digests, remote[key], None):
                report.unchanged += 1
                continue
            if key in remote:
                head = s3.head_object(Bucket=bucket, Key=key)
                if _same(digests, None, head.get("Metadata")):
                    report.unchanged += 1
                    continue
            _put(s3, bucket, key, path, digests)
            report.uploaded.append(key)
        gone = sorted(set(remote) - set(local))
        for start in range(0, len(gone), _DELETE_BATCH):
            batch = [{"Key": k} for k in gone[start : start + _DELETE_BATCH]]
            done = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if done.get("Errors"):
                first = done["Errors"][0]
                raise DeployError(f"s3://{bucket}/{first.get('Key')}: not deleted ({first.get('Code')})")
        report.deleted.extend(gone)


def upload_artefact(s3: Any, bucket: str, key: str, path: Path, report: Report) -> str:
    """Upload ``path`` unless the bucket's current object has the same bytes; its version id."""
    if not path.is_file():
        raise DeployError(f"{path}: not found; run make package first")
    digests = _digests(path)
    with aws_errors(f"s3://{bucket}/{key}"):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:  # a missing key is the first deploy; anything else is raised
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                raise
            head = None
        if head is not None and _same(digests, head.get("ETag"), head.get("Metadata")):
            version = head.get("VersionId")
        else:
            version = _put(s3, bucket, key, path, digests)
            report.uploaded.append(key)
    if not version or version == "null":
        raise DeployError(f"s3://{bucket}/{key}: has no version id; enable versioning on the bucket")
    report.versions[key] = str(version)
    return str(version)


def get_environment(mwaa: Any, target: Target) -> dict[str, Any]:
    with aws_errors(f"MWAA environment {target.environment} ({target.region})"):
        env: dict[str, Any] = mwaa.get_environment(Name=target.environment)["Environment"]
    bucket_arn = f"arn:aws:s3:::{target.bucket}"
    if env.get("SourceBucketArn") not in (None, bucket_arn):
        raise DeployError(
            f"{ENVIRONMENTS_FILE.name}: {target.name}.bucket: MWAA environment {target.environment} reads "
            f"{env['SourceBucketArn']}, not {bucket_arn}"
        )
    if env.get("DagS3Path", DAGS_PREFIX).strip("/") != DAGS_PREFIX:
        raise DeployError(
            f"MWAA environment {target.environment}: DagS3Path is {env['DagS3Path']!r}; sluice deploys to "
            f"{DAGS_PREFIX!r}"
        )
    return env


def deploy(
    bundle: Path,
    target: Target,
    s3: Any,
    mwaa: Any,
    log: Callable[[str], None] = print,
) -> Report:
    """Sync the bundle to the target's bucket and update the MWAA environment when it must."""
    dags = bundle / "dags"
    if not dags.is_dir():
        raise DeployError(f"{dags}: not found; run make package first")
    report = Report()
    check_bucket(s3, target.bucket)
    env = get_environment(mwaa, target)
    built_for = read_lock(REPO / "requirements.lock").version("apache-airflow")
    if env.get("AirflowVersion") and env["AirflowVersion"] != built_for:
        running = env["AirflowVersion"]
        log(f"warning: {target.environment} runs Airflow {running}; the package is tested on {built_for}")
    sync_dags(s3, target.bucket, dags, report)
    log(
        f"s3://{target.bucket}/{DAGS_PREFIX}/: {len(report.uploaded)} uploaded, "
        f"{len(report.deleted)} deleted, {report.unchanged} unchanged"
    )
    wanted: dict[str, str] = {}
    for key, field_prefix in ARTEFACTS:
        version = upload_artefact(s3, target.bucket, key, bundle / key, report)
        state = "uploaded" if key in report.uploaded else "unchanged"
        log(f"s3://{target.bucket}/{key}: {state}, version {version}")
        wanted[f"{field_prefix}S3Path"] = key
        wanted[f"{field_prefix}S3ObjectVersion"] = version
    changed = {k: v for k, v in wanted.items() if env.get(k) != v}
    if not changed:
        log(f"MWAA environment {target.environment}: already on these versions; no update needed")
        return report
    if env.get("Status") not in UPDATABLE:
        raise DeployError(
            f"MWAA environment {target.environment} is {env.get('Status')}: files uploaded, but "
            "update-environment must wait; run the deploy again once it is AVAILABLE"
        )
    with aws_errors(f"MWAA environment {target.environment} ({target.region})"):
        mwaa.update_environment(Name=target.environment, **wanted)
    report.updated = wanted
    log(f"MWAA environment {target.environment}: update started ({', '.join(sorted(changed))} changed)")
    return report


def wait_for_update(
    mwaa: Any,
    target: Target,
    timeout: float,
    log: Callable[[str], None] = print,
    interval: float = 30.0,
) -> None:
    """Poll get-environment until the update ends: AVAILABLE is done, UPDATE_FAILED (MWAA rolls
    back: a requirement that does not install, a startup script that fails) is MWAA's error."""
    deadline = time.monotonic() + timeout
    what = f"MWAA environment {target.environment} ({target.region})"
    while True:
        with aws_errors(what):
            env = mwaa.get_environment(Name=target.environment)["Environment"]
        status = env.get("Status")
        if status == "AVAILABLE":
            log(f"MWAA environment {target.environment}: update done")
            return
        if status not in ("UPDATING", "CREATING_SNAPSHOT", "PENDING"):
            error = (env.get("LastUpdate") or {}).get("Error") or {}
            reason = f"{error.get('ErrorCode', '')}: {error.get('ErrorMessage', '')}".strip(": ")
            raise DeployError(
                f"MWAA environment {target.environment}: update ended {status}"
                + (f" ({reason})" if reason else "")
            )
        if time.monotonic() >= deadline:
            raise DeployError(
                f"MWAA environment {target.environment}: still {status} after {timeout:.0f} s; "
                "see its Last update in the MWAA console"
            )
        time.sleep(interval)


def clients(target: Target) -> tuple[Any, Any]:
    import boto3

    session = boto3.session.Session(region_name=target.region)
    return session.client("s3"), session.client("mwaa")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.deploy", description=__doc__.split("\n")[0])
    parser.add_argument("environment", help="a name from deploy/environments.yml (dev, prod)")
    parser.add_argument("--bundle", default=str(REPO / "build" / "mwaa"), help="default: build/mwaa")
    parser.add_argument("--config", default=str(ENVIRONMENTS_FILE), help="default: deploy/environments.yml")
    parser.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="after update-environment, wait up to SECONDS for it to finish and fail if MWAA rolls back",
    )
    args = parser.parse_args(argv)
    try:
        target = read_target(args.environment, Path(args.config))
        s3, mwaa = clients(target)
        report = deploy(Path(args.bundle), target, s3, mwaa)
        if report.updated and args.wait:
            wait_for_update(mwaa, target, args.wait)
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
