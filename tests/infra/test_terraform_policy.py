"""Policy tests over terraform/: what a reviewer of an infrastructure change must never miss.

Each policy runs on the repository's configuration (no violation allowed) and on a small
broken configuration (the violation must be reported), so none of them passes vacuously.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.hcl import REPO, TERRAFORM, Config, literal, load, unquote
from tests.infra.policies import (
    backend_key,
    backend_violations,
    execution_role_violations,
    mwaa_bucket_violations,
    password_output_violations,
    queue_violations,
    redshift_violations,
    role_action_violations,
    secret_literal_violations,
    stream_wiring_violations,
)

ENV_DIRS = sorted(p for p in (TERRAFORM / "envs").glob("*/*") if p.is_dir())


def write_config(folder: Path, text: str) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text(text)
    return Config(folder)


def test_every_env_and_stack_is_present() -> None:
    assert [str(p.relative_to(TERRAFORM / "envs")) for p in ENV_DIRS] == [
        "dev/aws",
        "dev/snowflake",
        "prod/aws",
        "prod/snowflake",
    ]


@pytest.mark.parametrize("env", ENV_DIRS, ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_env_keeps_state_in_s3_with_native_lock_file(env: Path) -> None:
    assert backend_violations(Config(env)) == []


def test_envs_never_share_a_state_key() -> None:
    keys = [backend_key(Config(env)) for env in ENV_DIRS]
    assert None not in keys
    assert len(set(keys)) == len(keys), keys


def test_backend_policy_catches_a_dynamodb_lock_and_a_missing_lock_file(tmp_path: Path) -> None:
    env = write_config(
        tmp_path / "env",
        'terraform {\n  backend "s3" {\n    bucket = "b"\n    key = "k"\n    encrypt = true\n'
        '    dynamodb_table = "locks"\n  }\n}\n',
    )
    problems = backend_violations(env)
    assert any("use_lockfile" in p for p in problems)
    assert any("dynamodb_table" in p for p in problems)
    local = write_config(tmp_path / "local", 'terraform {\n  backend "local" {}\n}\n')
    assert any("expected s3" in p for p in backend_violations(local))


def test_mwaa_bucket_is_versioned_and_blocks_public_access() -> None:
    assert mwaa_bucket_violations(Config(TERRAFORM / "modules" / "mwaa")) == []


BROKEN_BUCKET = """
resource "aws_s3_bucket" "source" {
  bucket = "x"
}
resource "aws_s3_bucket_versioning" "source" {
  bucket = aws_s3_bucket.source.id
  versioning_configuration {
    status = "Suspended"
  }
}
resource "aws_s3_bucket_public_access_block" "source" {
  bucket                  = aws_s3_bucket.source.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = false
}
resource "aws_mwaa_environment" "this" {
  source_bucket_arn = aws_s3_bucket.source.arn
}
"""


def test_bucket_policy_catches_suspended_versioning_and_an_open_flag(tmp_path: Path) -> None:
    problems = mwaa_bucket_violations(write_config(tmp_path, BROKEN_BUCKET))
    assert len(problems) == 2
    assert "not versioned" in problems[0]
    assert "public access" in problems[1]


def test_mwaa_execution_role_names_every_action() -> None:
    assert execution_role_violations(Config(TERRAFORM / "modules" / "mwaa")) == []


WILDCARD_ROLE = """
resource "aws_iam_role" "execution" {
  name = "x"
}
data "aws_iam_policy_document" "execution" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["*"]
  }
  statement {
    actions   = ["secretsmanager:*"]
    resources = ["*"]
  }
  statement {
    actions   = ["*"]
    resources = ["*"]
  }
}
resource "aws_iam_role_policy" "execution" {
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}
resource "aws_mwaa_environment" "this" {
  execution_role_arn = aws_iam_role.execution.arn
}
"""


def test_role_policy_catches_star_and_service_wide_actions(tmp_path: Path) -> None:
    problems = execution_role_violations(write_config(tmp_path, WILDCARD_ROLE))
    assert len(problems) == 2
    assert "secretsmanager:*" in problems[0]
    assert '"*"' in problems[1]


TF_FILES = sorted(
    p for p in TERRAFORM.rglob("*") if p.suffix in {".tf", ".tfvars"} and ".terraform" not in p.parts
)


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_no_secret_value_in_terraform_files(path: Path) -> None:
    assert secret_literal_violations(path) == []


def test_secret_scan_catches_literals_pem_keys_and_secret_versions(tmp_path: Path) -> None:
    tfvars = tmp_path / "terraform.tfvars"
    tfvars.write_text(
        'db_password = "hunter2"\nsnowflake_private_key = "MIIEvQIBADANBg"\nregion = "eu-west-1"\n'
        'airbyte_client_secret = "s3cr3t"\n'
    )
    assert [p.split(": ", 1)[1] for p in secret_literal_violations(tfvars)] == [
        "db_password is a literal credential",
        "snowflake_private_key is a literal credential",
        "airbyte_client_secret is a literal credential",
    ]
    tf = tmp_path / "main.tf"
    tf.write_text(
        'resource "aws_secretsmanager_secret_version" "v" {\n  secret_id = aws_secretsmanager_secret.s.id\n'
        '  secret_string = "-----BEGIN PRIVATE KEY-----"\n}\n'
    )
    problems = secret_literal_violations(tf)
    assert any("PEM private key" in p for p in problems)
    assert any("secret_string is a literal credential" in p for p in problems)
    assert any("aws_secretsmanager_secret_version" in p for p in problems)
    # references to where a secret lives are not secrets
    ok = tmp_path / "ok.tf"
    ok.write_text('locals {\n  password = var.password\n  secret_arn = "arn:aws:secretsmanager:x"\n}\n')
    assert secret_literal_violations(ok) == []


def test_mwaa_reads_connections_and_variables_from_secrets_manager() -> None:
    (env,) = Config(TERRAFORM / "modules" / "mwaa").find("aws_mwaa_environment")
    options = {k.strip('"'): v for k, v in env.body["airflow_configuration_options"].items()}
    assert literal(options["secrets.backend"]) == (
        "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    )
    kwargs = options["secrets.backend_kwargs"]
    assert "connections_prefix" in kwargs and "variables_prefix" in kwargs


def test_mwaa_shows_a_broken_spec_as_its_own_line_not_a_traceback() -> None:
    (env,) = Config(TERRAFORM / "modules" / "mwaa").find("aws_mwaa_environment")
    options = {k.strip('"'): v for k, v in env.body["airflow_configuration_options"].items()}
    assert literal(options["core.dagbag_import_error_tracebacks"]) == "false"


def test_mwaa_sends_lineage_only_where_a_receiver_is_named() -> None:
    (env,) = Config(TERRAFORM / "modules" / "mwaa").find("aws_mwaa_environment")
    options = {k.strip('"'): v for k, v in env.body["airflow_configuration_options"].items()}
    assert "var.openlineage_url" in options["openlineage.transport"]
    assert 'var.openlineage_url == "" ? "true" : "false"' in options["openlineage.disabled"]
    for stack in ("dev", "prod"):
        (call,) = [
            body
            for doc in Config(TERRAFORM / "envs" / stack / "aws").files.values()
            for entry in doc.get("module", [])
            for name, body in entry.items()
            if name.strip('"') == "mwaa"
        ]
        assert "var.openlineage_url" in call["openlineage_url"], stack


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_mwaa_runs_the_airflow_version_the_project_pins(env: str) -> None:
    pin = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pin is not None
    tfvars = load(TERRAFORM / "envs" / env / "aws" / "terraform.tfvars")
    assert literal(tfvars["airflow_version"]) == pin.group(1)


def test_airbyte_host_requires_imdsv2_with_a_hop_for_the_kind_cluster() -> None:
    (host,) = Config(TERRAFORM / "modules" / "airbyte_host").find("aws_instance")
    (metadata,) = host.body["metadata_options"]
    assert literal(metadata["http_tokens"]) == "required"
    assert metadata["http_put_response_hop_limit"] == 2
    (root,) = host.body["root_block_device"]
    assert root["encrypted"] is True


def test_snowflake_users_authenticate_with_key_pairs_only() -> None:
    module = Config(TERRAFORM / "modules" / "snowflake")
    users = module.find("snowflake_service_user") + module.find("snowflake_user")
    assert {u.name for u in users} == {"dbt", "airbyte"}
    for user in users:
        assert user.type == "snowflake_service_user"  # SERVICE users cannot log in with a password
        assert "password" not in user.body
        assert user.body["rsa_public_key"].startswith("${var.")


def test_dbt_role_owns_every_zone_schema_and_its_staging_copy() -> None:
    module = Config(TERRAFORM / "modules" / "snowflake")
    (schemas,) = module.find("snowflake_schema")
    (ownership,) = module.find("snowflake_grant_ownership")
    # one ownership grant per schema terraform creates, to the role dbt runs as
    assert ownership.body["for_each"] == schemas.body["for_each"] == "${local.schemas}"
    assert ownership.body["account_role_name"] == '${snowflake_account_role.this["TRANSFORMER"].name}'
    (on,) = ownership.body["on"]
    assert literal(on["object_type"]) == "SCHEMA"
    locals_ = {
        k: v for doc in module.files.values() for block in doc.get("locals", []) for k, v in block.items()
    }
    assert literal(locals_["staging_suffix"]) == "__STAGING"
    assert "local.zone_schemas" in locals_["schemas"]
    assert "local.staging_suffix" in locals_["zone_schemas"]


def test_every_checkov_skip_says_why() -> None:
    lines = (TERRAFORM / ".checkov.yaml").read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if re.match(r"^\s*-\s*CKV", line)]
    assert skips, "no skip list"
    for i in skips:
        assert lines[i - 1].strip().startswith("#"), f"skip {lines[i].strip()} has no reason above it"
    for path in TF_FILES:
        for match in re.finditer(r"#checkov:skip=([A-Z0-9_]+)(:(.*))?", path.read_text()):
            assert (match.group(3) or "").strip(), f"{path}: inline skip {match.group(1)} has no reason"


# --- event streams and Redshift Serverless ------------------------------------------------------

EVENT_STREAMS = TERRAFORM / "modules" / "event_streams"
REDSHIFT = TERRAFORM / "modules" / "redshift_serverless"


def test_event_queues_are_encrypted_have_dead_letters_and_take_only_their_bucket() -> None:
    assert queue_violations(Config(EVENT_STREAMS)) == []


BROKEN_QUEUES = """
resource "aws_sqs_queue" "dead" {
  name = "d"
}
resource "aws_sqs_queue" "stream" {
  name           = "s"
  redrive_policy = jsonencode({ maxReceiveCount = 5 })
}
data "aws_iam_policy_document" "queue" {
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.stream.arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = ["123456789012"]
    }
  }
}
resource "aws_sqs_queue_policy" "stream" {
  queue_url = aws_sqs_queue.stream.id
  policy    = data.aws_iam_policy_document.queue.json
}
"""


def test_queue_policy_catches_plaintext_queues_no_dead_letter_and_any_bucket(tmp_path: Path) -> None:
    problems = queue_violations(write_config(tmp_path, BROKEN_QUEUES))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "not encrypted (sqs_managed_sse_enabled or kms_master_key_id)",
        "not encrypted (sqs_managed_sse_enabled or kms_master_key_id)",
        "redrive_policy names no dead-letter queue",
        "s3.amazonaws.com may send for any bucket (no aws:SourceArn and aws:SourceAccount conditions)",
    ]


def test_each_stream_ages_its_prefix_and_notifies_its_own_queue() -> None:
    assert stream_wiring_violations(Config(EVENT_STREAMS)) == []


def test_stream_wiring_policy_catches_a_wrong_order_and_a_shared_queue(tmp_path: Path) -> None:
    text = "".join(p.read_text() for p in sorted(EVENT_STREAMS.glob("*.tf")))
    broken = (
        text.replace('storage_class = "STANDARD_IA"', 'storage_class = "TMP"')
        .replace('storage_class = "GLACIER"', 'storage_class = "STANDARD_IA"')
        .replace("aws_sqs_queue.stream[queue.key].arn", 'aws_sqs_queue.stream["all"].arn')
        .replace("depends_on = [aws_sqs_queue_policy.stream]", "")
    )
    problems = stream_wiring_violations(write_config(tmp_path, broken))
    assert any("expected STANDARD_IA after warm, GLACIER after cold" in p for p in problems)
    assert "notification does not send each stream's prefix to the stream's own queue" in problems
    assert "notification is not saved after the queue policies (depends_on)" in problems


def test_redshift_admin_password_never_reaches_state_and_the_workgroup_is_private() -> None:
    assert redshift_violations(Config(REDSHIFT)) == []


BROKEN_REDSHIFT = """
resource "aws_redshiftserverless_namespace" "this" {
  namespace_name      = "n"
  admin_username      = "admin"
  admin_user_password = var.admin_password
}
resource "aws_redshiftserverless_workgroup" "this" {
  workgroup_name      = "w"
  namespace_name      = "n"
  publicly_accessible = true
}
output "admin_password" {
  value     = aws_redshiftserverless_namespace.this.admin_user_password
  sensitive = true
}
"""


def test_redshift_policy_catches_a_terraform_password_an_output_of_it_and_a_public_workgroup(
    tmp_path: Path,
) -> None:
    problems = [p.split(": ", 1)[1] for p in redshift_violations(write_config(tmp_path, BROKEN_REDSHIFT))]
    assert problems == [
        "manage_admin_password is not true",
        "sets admin_user_password, which terraform keeps in state",
        "publicly_accessible is not false",
        "enhanced_vpc_routing is not true",
        "require_ssl is not true",
        "output admin_password hands out ${aws_redshiftserverless_namespace.this.admin_user_password}",
    ]


@pytest.mark.parametrize("folder", sorted({p.parent for p in TERRAFORM.rglob("*.tf")}), ids=str)
def test_no_output_hands_out_a_password(folder: Path) -> None:
    assert password_output_violations(Config(folder)) == []


def test_copy_role_names_every_action_and_reads_only_the_event_buckets() -> None:
    module = Config(REDSHIFT)
    assert role_action_violations(module, "aws_iam_role.copy") == []
    statements = module.get("data.aws_iam_policy_document.copy").body["statement"]
    assert {literal(a) for s in statements for a in s["actions"]} == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:GetBucketLocation",
    }
    assert all("var.copy_bucket_arns" in str(s["resources"]) for s in statements)
    (trust,) = module.get("data.aws_iam_policy_document.copy_assume").body["statement"]
    assert {c["variable"] for c in trust["condition"]} == {'"aws:SourceAccount"'}


def test_role_action_policy_catches_a_wildcard(tmp_path: Path) -> None:
    problems = role_action_violations(write_config(tmp_path, WILDCARD_ROLE), "aws_iam_role.execution")
    assert len(problems) == 2


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_envs_wire_event_streams_and_redshift_behind_their_variables(env: str) -> None:
    config = Config(TERRAFORM / "envs" / env / "aws")
    modules = {
        unquote(k): v for doc in config.files.values() for m in doc.get("module", []) for k, v in m.items()
    }
    assert modules["event_streams"]["count"] == "${length(var.event_streams) > 0 ? 1 : 0}"
    assert modules["redshift"]["count"] == "${var.redshift_enabled ? 1 : 0}"
    assert modules["redshift"]["copy_bucket_arns"] == "${module.event_streams[*].bucket_arn}"
    mwaa = modules["mwaa"]
    assert "module.event_streams" in mwaa["event_queue_arns"]
    assert mwaa["redshift_workgroup_arns"] == "${module.redshift[*].workgroup_arn}"
    secrets = modules["secrets"]["secrets"]
    assert "var.redshift_enabled" in secrets and "airflow/connections/redshift_default" in secrets


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_env_streams_respect_s3_lifecycle_minimums_and_never_overlap(env: str) -> None:
    """What the module's variable validations say, checked here too: terraform validate cannot
    run offline, so nothing else evaluates them before a plan."""
    streams = load(TERRAFORM / "envs" / env / "aws" / "terraform.tfvars")["event_streams"]
    assert streams, f"{env}: no event stream"
    prefixes = []
    for name, stream in streams.items():
        prefix = literal(stream["prefix"])
        assert prefix and prefix.endswith("/") and not prefix.startswith("/"), (name, prefix)
        warm, cold = stream["warm_after_days"], stream["cold_after_days"]
        assert warm >= 30 and cold >= warm + 30, (name, warm, cold)
        expire = stream.get("expire_after_days")
        assert expire is None or expire >= cold + 90, (name, expire)
        prefixes.append(prefix)
    assert not [(a, b) for a in prefixes for b in prefixes if a != b and a.startswith(b)]
