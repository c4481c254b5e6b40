# An MWAA environment with its own source bucket, execution role and security group.
# `make deploy` uploads dags/, plugins.zip, requirements.txt and startup.sh to the bucket and
# points the environment at the new object versions; terraform owns everything else.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
  env_arn    = "arn:${local.partition}:airflow:${local.region}:${local.account_id}:environment/${var.name}"
}

# --- source bucket --------------------------------------------------------------------------

resource "aws_kms_key" "mwaa" {
  description             = "${var.name}: MWAA source bucket, logs and environment"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "mwaa" {
  name          = "alias/${var.name}-mwaa"
  target_key_id = aws_kms_key.mwaa.key_id
}

# The account administers the key; CloudWatch Logs encrypts MWAA's log groups with it.
# MWAA itself reaches the key through the execution role's kms:ViaService grants.
data "aws_iam_policy_document" "kms" {
  # A key policy: Resource "*" is this key only, and the account root statement is what lets
  # IAM policies grant use of the key at all (without it the key becomes unmanageable).
  #checkov:skip=CKV_AWS_109:key policy; "*" is the key itself and root delegates to IAM
  #checkov:skip=CKV_AWS_111:key policy; "*" is the key itself and root delegates to IAM
  #checkov:skip=CKV_AWS_356:key policy; "*" is the key itself and root delegates to IAM
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncrypts"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:DescribeKey",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:airflow-${var.name}-*"]
    }
  }
}

# <name>-mwaa, the bucket deploy/environments.yml names for `make deploy ENV=...`
resource "aws_s3_bucket" "source" {
  bucket = coalesce(var.bucket_name, "${var.name}-mwaa")
  tags   = var.tags
}

# Versioning is what MWAA pins plugins.zip and requirements.txt to, and what a rollback uses.
resource "aws_s3_bucket_versioning" "source" {
  bucket = aws_s3_bucket.source.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "source" {
  bucket                  = aws_s3_bucket.source.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "source" {
  bucket = aws_s3_bucket.source.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "source" {
  bucket = aws_s3_bucket.source.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.mwaa.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "source" {
  bucket = aws_s3_bucket.source.id

  rule {
    id     = "expire-old-deploys"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.source]
}

data "aws_iam_policy_document" "source_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.source.arn, "${aws_s3_bucket.source.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "source" {
  bucket     = aws_s3_bucket.source.id
  policy     = data.aws_iam_policy_document.source_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.source]
}

# --- network --------------------------------------------------------------------------------

resource "aws_security_group" "mwaa" {
  name        = "${var.name}-mwaa"
  description = "MWAA ${var.name}: workers, scheduler and web server talk to each other and out over HTTPS"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

# MWAA requires a self-referencing rule: its components reach each other on many ports.
resource "aws_vpc_security_group_ingress_rule" "self" {
  security_group_id            = aws_security_group.mwaa.id
  referenced_security_group_id = aws_security_group.mwaa.id
  ip_protocol                  = "-1"
  description                  = "MWAA components to each other"
}

resource "aws_vpc_security_group_egress_rule" "self" {
  security_group_id            = aws_security_group.mwaa.id
  referenced_security_group_id = aws_security_group.mwaa.id
  ip_protocol                  = "-1"
  description                  = "MWAA components to each other"
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each          = toset(var.egress_cidr_blocks)
  security_group_id = aws_security_group.mwaa.id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "HTTPS to Snowflake and AWS APIs"
}

resource "aws_vpc_security_group_egress_rule" "airbyte" {
  count                        = var.airbyte_security_group_id == null ? 0 : 1
  security_group_id            = aws_security_group.mwaa.id
  referenced_security_group_id = var.airbyte_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.airbyte_api_port
  to_port                      = var.airbyte_api_port
  description                  = "Airbyte API on the Airbyte host"
}

resource "aws_vpc_security_group_egress_rule" "redshift" {
  count                        = var.redshift_security_group_id == null ? 0 : 1
  security_group_id            = aws_security_group.mwaa.id
  referenced_security_group_id = var.redshift_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.redshift_port
  to_port                      = var.redshift_port
  description                  = "dbt and the load tasks to Redshift Serverless"
}

# --- the environment ------------------------------------------------------------------------

resource "aws_mwaa_environment" "this" {
  name               = var.name
  airflow_version    = var.airflow_version
  environment_class  = var.environment_class
  max_workers        = var.max_workers
  execution_role_arn = aws_iam_role.execution.arn
  kms_key            = aws_kms_key.mwaa.arn

  source_bucket_arn      = aws_s3_bucket.source.arn
  dag_s3_path            = "dags/"
  plugins_s3_path        = "plugins.zip"
  requirements_s3_path   = "requirements.txt"
  startup_script_s3_path = "startup.sh" # builds dbt's virtualenv on every MWAA machine

  # Private: the web UI is reached through the VPC (VPN or a bastion), never the internet.
  webserver_access_mode = "PRIVATE_ONLY"

  airflow_configuration_options = {
    "secrets.backend" = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    "secrets.backend_kwargs" = jsonencode({
      connections_prefix = "${var.secrets_prefix}/connections"
      variables_prefix   = "${var.secrets_prefix}/variables"
    })
    # a broken pipeline spec shows as its own line (file:line: key: what), not a Python traceback
    "core.dagbag_import_error_tracebacks" = "false"
    # every task's OpenLineage events, through Airflow's OpenLineage provider (docs/deploy.md)
    "openlineage.disabled"  = var.openlineage_url == "" ? "true" : "false"
    "openlineage.transport" = jsonencode({ type = "http", url = var.openlineage_url, endpoint = var.openlineage_endpoint })
    "openlineage.namespace" = var.openlineage_namespace
  }

  network_configuration {
    security_group_ids = [aws_security_group.mwaa.id]
    subnet_ids         = var.private_subnet_ids
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = "WARNING"
    }
    scheduler_logs {
      enabled   = true
      log_level = "WARNING"
    }
    task_logs {
      enabled   = true
      log_level = "INFO"
    }
    webserver_logs {
      enabled   = true
      log_level = "WARNING"
    }
    worker_logs {
      enabled   = true
      log_level = "WARNING"
    }
  }

  tags = var.tags

  # `make deploy` moves the environment to each new plugins.zip / requirements.txt /
  # startup.sh version; terraform must not move it back on the next apply.
  lifecycle {
    ignore_changes = [
      plugins_s3_object_version,
      requirements_s3_object_version,
      startup_script_s3_object_version,
    ]
  }

  depends_on = [aws_iam_role_policy.execution]
}
