"""`make deploy` against a local S3 (moto in server mode on 127.0.0.1) and an MWAA client whose
every call is checked against botocore's MWAA service model (Stubber): what is uploaded, what is
deleted, and when update-environment is called."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from deploy import deploy as deploy_mod
from deploy.environments import Target
from deploy.package import build

from sluice.errors import DeployError
from tests.integration.moto_server import moto_server

pytestmark = pytest.mark.integration

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MWAA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def _s3(url: str, **creds: str) -> Any:
    return boto3.client("s3", region_name=REGION, endpoint_url=url, **creds)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("package") / "mwaa")


@pytest.fixture
def target(moto_url: str, request: pytest.FixtureRequest) -> Target:
    """A fresh versioned bucket per test, as MWAA requires."""
    bucket = f"sluice-{request.node.name.replace('_', '-')[:40].lower()}"
    s3 = _s3(moto_url)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return Target("dev", "sluice-dev", bucket, REGION)


def _environment(target: Target, **versions: str) -> dict[str, Any]:
    """A GetEnvironment answer; validated against the service model by Stubber."""
    env = {
        "Name": target.environment,
        "Status": "AVAILABLE",
        "Arn": f"arn:aws:airflow:{REGION}:123456789012:environment/{target.environment}",
        "AirflowVersion": "3.3.2",
        "SourceBucketArn": f"arn:aws:s3:::{target.bucket}",
        "DagS3Path": "dags",
    }
    for key, field in deploy_mod.ARTEFACTS:
        if field in versions:
            env[f"{field}S3Path"] = key
            env[f"{field}S3ObjectVersion"] = versions[field]
    return env


def _mwaa(target: Target, env: dict[str, Any], update: dict[str, Any] | None) -> tuple[Any, Stubber]:
    client = boto3.client("mwaa", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("get_environment", {"Environment": env}, {"Name": target.environment})
    if update is not None:
        stubber.add_response(
            "update_environment", {"Arn": env["Arn"]}, {"Name": target.environment, **update}
        )
    stubber.activate()
    return client, stubber


def _latest_versions(s3: Any, bucket: str) -> dict[str, str]:
    out = {}
    for key, field in deploy_mod.ARTEFACTS:
        out[field] = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    return out


def _run(bundle: Path, target: Target, url: str, env: dict[str, Any], update: dict[str, Any] | None) -> Any:
    mwaa, stubber = _mwaa(target, env, update)
    lines: list[str] = []
    report = deploy_mod.deploy(bundle, target, _s3(url), mwaa, log=lines.append)
    stubber.assert_no_pending_responses()
    return report, lines


def _every_update(**versions: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, field in deploy_mod.ARTEFACTS:
        out[f"{field}S3Path"] = key
        out[f"{field}S3ObjectVersion"] = versions.get(field, ANY)
    return out


def _first_deploy(bundle: Path, target: Target, url: str) -> dict[str, str]:
    _run(bundle, target, url, _environment(target), _every_update())
    return _latest_versions(_s3(url), target.bucket)


def test_first_deploy_uploads_everything_and_updates_the_environment(
    bundle: Path, target: Target, moto_url: str
) -> None:
    report, lines = _run(bundle, target, moto_url, _environment(target), _every_update())
    s3 = _s3(moto_url)
    local = sorted(p.relative_to(bundle).as_posix() for p in (bundle / "dags").rglob("*") if p.is_file())
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=target.bucket, Prefix="dags/")["Contents"])
    assert keys == local
    assert "dags/sluice_repo/dbt/target/sluice/payments_daily.dev.plan.json" in keys
    for key in (
        "dags/.airflowignore",
        "dags/sluice_repo/dags/pipelines/payments_daily.yml",
        "dags/constraints.txt",
    ):
        assert s3.get_object(Bucket=target.bucket, Key=key)["Body"].read() == (bundle / key).read_bytes()
    for key in ("plugins.zip", "requirements.txt", "startup.sh"):
        assert s3.get_object(Bucket=target.bucket, Key=key)["Body"].read() == (bundle / key).read_bytes()
    versions = _latest_versions(s3, target.bucket)
    # what update-environment was called with: the versions S3 holds now
    assert report.updated == {
        **{f"{f}S3Path": k for k, f in deploy_mod.ARTEFACTS},
        **{f"{f}S3ObjectVersion": versions[f] for _, f in deploy_mod.ARTEFACTS},
    }
    assert any("update started" in line for line in lines)


def test_second_deploy_with_nothing_changed_does_not_update(
    bundle: Path, target: Target, moto_url: str
) -> None:
    versions = _first_deploy(bundle, target, moto_url)
    # no update_environment stubbed: calling it would fail the deploy
    report, lines = _run(bundle, target, moto_url, _environment(target, **versions), None)
    assert report.uploaded == [] and report.deleted == [] and report.updated == {}
    assert report.versions == {k: versions[f] for k, f in deploy_mod.ARTEFACTS}
    assert any("no update needed" in line for line in lines)


def test_a_changed_dag_file_is_synced_without_update_environment(
    bundle: Path, target: Target, moto_url: str, tmp_path: Path
) -> None:
    versions = _first_deploy(bundle, target, moto_url)
    changed = tmp_path / "mwaa"
    shutil.copytree(bundle, changed)
    dag = changed / "dags" / "sluice_repo" / "dags" / "sluice_dags.py"
    dag.write_text(dag.read_text() + "\n# a comment changes the bytes\n")
    (changed / "dags" / "sluice_repo" / "dags" / "pipelines" / "spec.schema.json").unlink()
    report, _ = _run(changed, target, moto_url, _environment(target, **versions), None)
    assert report.uploaded == ["dags/sluice_repo/dags/sluice_dags.py"]
    assert report.deleted == ["dags/sluice_repo/dags/pipelines/spec.schema.json"]
    assert report.updated == {}
    s3 = _s3(moto_url)
    body = s3.get_object(Bucket=target.bucket, Key="dags/sluice_repo/dags/sluice_dags.py")["Body"].read()
    assert body.endswith(b"# a comment changes the bytes\n")
    listed = s3.list_objects_v2(Bucket=target.bucket, Prefix="dags/sluice_repo/dags/pipelines/")["Contents"]
    assert [o["Key"] for o in listed] == ["dags/sluice_repo/dags/pipelines/payments_daily.yml"]


def test_changed_plugins_bump_the_version_and_update_the_environment(
    bundle: Path, target: Target, moto_url: str, tmp_path: Path
) -> None:
    versions = _first_deploy(bundle, target, moto_url)
    changed = tmp_path / "mwaa"
    shutil.copytree(bundle, changed)
    with zipfile.ZipFile(changed / "plugins.zip", "a") as zf:
        zf.writestr("sluice/_changed.py", "X = 1\n")
    mwaa, stubber = _mwaa(
        target,
        _environment(target, **versions),
        _every_update(Requirements=versions["Requirements"], StartupScript=versions["StartupScript"]),
    )
    report = deploy_mod.deploy(changed, target, _s3(moto_url), mwaa, log=lambda _: None)
    stubber.assert_no_pending_responses()
    new = _latest_versions(_s3(moto_url), target.bucket)
    assert new["Plugins"] != versions["Plugins"]
    assert report.uploaded == ["plugins.zip"]
    assert report.updated["PluginsS3ObjectVersion"] == new["Plugins"]
    assert report.updated["RequirementsS3ObjectVersion"] == versions["Requirements"]


def test_an_updating_environment_gets_the_files_and_a_clear_retry_line(
    bundle: Path, target: Target, moto_url: str
) -> None:
    env = {**_environment(target), "Status": "UPDATING"}
    mwaa, stubber = _mwaa(target, env, None)
    with pytest.raises(DeployError) as err:
        deploy_mod.deploy(bundle, target, _s3(moto_url), mwaa, log=lambda _: None)
    assert str(err.value) == (
        "MWAA environment sluice-dev is UPDATING: files uploaded, but update-environment must wait; "
        "run the deploy again once it is AVAILABLE"
    )
    stubber.assert_no_pending_responses()
    body = _s3(moto_url).get_object(Bucket=target.bucket, Key="plugins.zip")["Body"].read()
    assert body == (bundle / "plugins.zip").read_bytes()


def _cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, bucket: str, bundle: Path
) -> tuple[int, str]:
    config = tmp_path / "environments.yml"
    config.write_text(f"dev:\n  environment: sluice-dev\n  bucket: {bucket}\n  region: {REGION}\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", url)
    done = subprocess.run(
        [sys.executable, "-m", "deploy.deploy", "dev", "--bundle", str(bundle), "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(deploy_mod.__file__).parents[1],
        timeout=120,
    )
    assert done.stdout == ""
    return done.returncode, done.stderr


def test_a_missing_bucket_is_one_line_naming_bucket_and_status(
    bundle: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, err = _cli(monkeypatch, tmp_path, moto_url, "sluice-no-such-bucket", bundle)
    assert code == 1
    assert err == (
        "deploy: s3://sluice-no-such-bucket: no such bucket (GetBucketVersioning: NoSuchBucket, HTTP 404)\n"
    )


def test_access_denied_is_one_line_naming_bucket_and_status(
    bundle: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a second moto that enforces IAM after the first 4 calls: the bucket and a user without policies
    with moto_server(INITIAL_NO_AUTH_ACTION_COUNT="4") as url:
        s3 = _s3(url)
        s3.create_bucket(Bucket="sluice-locked", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket="sluice-locked", VersioningConfiguration={"Status": "Enabled"})
        iam = boto3.client("iam", region_name=REGION, endpoint_url=url)
        iam.create_user(UserName="deployer")
        key = iam.create_access_key(UserName="deployer")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        code, err = _cli(monkeypatch, tmp_path, url, "sluice-locked", bundle)
    assert code == 1
    assert err == (
        "deploy: s3://sluice-locked: access denied; check the deploy role's permissions "
        "(GetBucketVersioning: AccessDenied, HTTP 403)\n"
    )


def test_an_unversioned_bucket_is_refused(bundle: Path, moto_url: str) -> None:
    s3 = _s3(moto_url)
    s3.create_bucket(Bucket="sluice-unversioned", CreateBucketConfiguration={"LocationConstraint": REGION})
    target = Target("dev", "sluice-dev", "sluice-unversioned", REGION)
    mwaa = boto3.client("mwaa", region_name=REGION)
    with (
        Stubber(mwaa),
        pytest.raises(DeployError, match=r"^s3://sluice-unversioned: versioning is not enabled"),
    ):
        deploy_mod.deploy(bundle, target, s3, mwaa, log=lambda _: None)


def test_waiting_reports_mwaa_rolling_the_update_back(bundle: Path, target: Target, moto_url: str) -> None:
    env = _environment(target)
    mwaa, stubber = _mwaa(target, env, _every_update())
    report = deploy_mod.deploy(bundle, target, _s3(moto_url), mwaa, log=lambda _: None)
    assert report.updated
    stubber.add_response(
        "get_environment", {"Environment": {**env, "Status": "UPDATING"}}, {"Name": "sluice-dev"}
    )
    failed = {
        **env,
        "Status": "UPDATE_FAILED",
        "LastUpdate": {
            "Status": "FAILED",
            "Error": {
                "ErrorCode": "INCORRECT_CONFIGURATION",
                "ErrorMessage": "requirements.txt did not install",
            },
        },
    }
    stubber.add_response("get_environment", {"Environment": failed}, {"Name": "sluice-dev"})
    with pytest.raises(DeployError) as err:
        deploy_mod.wait_for_update(mwaa, target, timeout=60, log=lambda _: None, interval=0)
    assert str(err.value) == (
        "MWAA environment sluice-dev: update ended UPDATE_FAILED "
        "(INCORRECT_CONFIGURATION: requirements.txt did not install)"
    )
    stubber.assert_no_pending_responses()


def test_waiting_ends_when_the_environment_is_available_again(target: Target) -> None:
    env = _environment(target)
    mwaa = boto3.client("mwaa", region_name=REGION)
    with Stubber(mwaa) as stubber:
        for status in ("UPDATING", "UPDATING", "AVAILABLE"):
            stubber.add_response(
                "get_environment", {"Environment": {**env, "Status": status}}, {"Name": "sluice-dev"}
            )
        lines: list[str] = []
        deploy_mod.wait_for_update(mwaa, target, timeout=60, log=lines.append, interval=0)
        stubber.assert_no_pending_responses()
    assert lines == ["MWAA environment sluice-dev: update done"]
