# The execution role: what MWAA's scheduler, workers and web server may do, and nothing more.
# Every statement names its actions; no wildcard action, so a new AWS API never widens it.

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    }
    # confused-deputy guard: only this account's environment of this name may assume it
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.env_arn]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-mwaa-execution"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PublishMetrics"
    actions   = ["airflow:PublishMetrics"]
    resources = [local.env_arn]
  }

  # MWAA reads dags/, plugins.zip and requirements.txt; it never writes the bucket.
  statement {
    sid = "ReadSourceBucket"
    actions = [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:GetBucketLocation",
      "s3:GetBucketVersioning",
      "s3:ListBucket",
      "s3:ListBucketVersions",
    ]
    resources = [aws_s3_bucket.source.arn, "${aws_s3_bucket.source.arn}/*"]
  }

  # MWAA refuses to start unless it can confirm the account-level public access block;
  # this read-only call has no resource-level form.
  statement {
    sid       = "CheckAccountPublicAccessBlock"
    actions   = ["s3:GetAccountPublicAccessBlock"]
    resources = ["*"]
  }

  statement {
    sid = "WriteOwnLogs"
    actions = [
      "logs:CreateLogStream",
      "logs:CreateLogGroup",
      "logs:PutLogEvents",
      "logs:GetLogEvents",
      "logs:GetLogRecord",
      "logs:GetLogGroupFields",
      "logs:GetQueryResults",
    ]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:airflow-${var.name}-*"]
  }

  # Listing log groups and publishing metrics have no resource-level permissions in IAM.
  statement {
    sid       = "DescribeLogGroupsAndMetrics"
    actions   = ["logs:DescribeLogGroups", "cloudwatch:PutMetricData"]
    resources = ["*"]
  }

  # Celery's queue lives in an MWAA-owned account; its name is what can be pinned.
  statement {
    sid = "CeleryQueue"
    actions = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ReceiveMessage",
      "sqs:SendMessage",
    ]
    resources = ["arn:${local.partition}:sqs:${local.region}:*:airflow-celery-*"]
  }

  # The environment's own key, used by S3 and SQS on MWAA's behalf only.
  statement {
    sid = "UseEnvironmentKey"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:GenerateDataKey*",
      "kms:Encrypt",
    ]
    resources = [aws_kms_key.mwaa.arn]
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com", "s3.${local.region}.amazonaws.com"]
    }
  }

  # The secrets backend reads connections and variables under the prefix; it never lists
  # the account's secrets and never writes one.
  statement {
    sid     = "ReadAirflowSecrets"
    actions = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [
      "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secrets_prefix}/connections/*",
      "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secrets_prefix}/variables/*",
    ]
  }

  statement {
    sid       = "DecryptAirflowSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "mwaa-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# Event streams and Redshift, each granted only when the env has them: the AssetWatchers take
# notifications off the streams' queues and the load tasks read the files; dbt may log in to
# Redshift Serverless as this role with temporary credentials.
data "aws_iam_policy_document" "event_streams" {
  statement {
    sid = "ReceiveEventNotifications"
    actions = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ReceiveMessage",
    ]
    resources = var.event_queue_arns
  }

  statement {
    sid       = "ReadEventFiles"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"]
    resources = flatten([for arn in var.event_bucket_arns : [arn, "${arn}/*"]])
  }

  dynamic "statement" {
    for_each = length(var.event_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptEventFiles"
      actions   = ["kms:Decrypt"]
      resources = var.event_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "event_streams" {
  count  = length(var.event_queue_arns) > 0 ? 1 : 0
  name   = "mwaa-event-streams"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.event_streams.json
}

data "aws_iam_policy_document" "redshift" {
  statement {
    sid       = "RedshiftServerlessLogin"
    actions   = ["redshift-serverless:GetCredentials", "redshift-serverless:GetWorkgroup"]
    resources = var.redshift_workgroup_arns
  }
}

resource "aws_iam_role_policy" "redshift" {
  count  = length(var.redshift_workgroup_arns) > 0 ? 1 : 0
  name   = "mwaa-redshift-login"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.redshift.json
}
