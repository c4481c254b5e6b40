# Event files in S3, announced on SQS: the bucket (or an existing one), per stream a lifecycle
# rule (Standard -> Standard-IA -> Glacier as files age: hot in the warehouse, warm and cold
# here), an SQS queue with a dead-letter queue, and the bucket notification of the stream's
# prefix to its queue. The pipelines' AssetWatchers poll the queues (README, event streams).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  create     = var.existing_bucket_name == null
  bucket     = local.create ? aws_s3_bucket.events[0].id : var.existing_bucket_name
  bucket_arn = "arn:${local.partition}:s3:::${local.bucket}"
}

# --- the bucket, when this module makes it ----------------------------------------------------

resource "aws_kms_key" "events" {
  count                   = local.create ? 1 : 0
  description             = "${var.name}: event files"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "events" {
  count         = local.create ? 1 : 0
  name          = "alias/${var.name}-events"
  target_key_id = aws_kms_key.events[0].key_id
}

# Readers (the Redshift COPY role, the MWAA role) get key use from their own IAM policies,
# pinned to S3 with kms:ViaService.
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
}

resource "aws_s3_bucket" "events" {
  count  = local.create ? 1 : 0
  bucket = coalesce(var.bucket_name, "${var.name}-events")
  tags   = var.tags
}

# Versioned: a file rewritten under the same key keeps the version the ledger loaded.
resource "aws_s3_bucket_versioning" "events" {
  count  = local.create ? 1 : 0
  bucket = aws_s3_bucket.events[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "events" {
  count                   = local.create ? 1 : 0
  bucket                  = aws_s3_bucket.events[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "events" {
  count  = local.create ? 1 : 0
  bucket = aws_s3_bucket.events[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "events" {
  count  = local.create ? 1 : 0
  bucket = aws_s3_bucket.events[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.events[0].arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
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

resource "aws_s3_bucket_policy" "events" {
  count      = local.create ? 1 : 0
  bucket     = aws_s3_bucket.events[0].id
  policy     = data.aws_iam_policy_document.bucket.json
  depends_on = [aws_s3_bucket_public_access_block.events]
}

# --- per stream: ageing, queue, notification --------------------------------------------------

# One rule per stream prefix: warm (Standard-IA) and cold (Glacier) after the stream's days,
# old versions gone after noncurrent_version_retention_days; and for the whole bucket,
# unfinished uploads dropped after 7 days.
resource "aws_s3_bucket_lifecycle_configuration" "events" {
  count  = length(var.streams) > 0 ? 1 : 0
  bucket = local.bucket

  rule {
    id     = "abort-unfinished-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = var.streams
    content {
      id     = "stream-${rule.key}"
      status = "Enabled"
      filter {
        prefix = rule.value.prefix
      }
      transition {
        days          = rule.value.warm_after_days
        storage_class = "STANDARD_IA"
      }
      transition {
        days          = rule.value.cold_after_days
        storage_class = "GLACIER"
      }
      dynamic "expiration" {
        for_each = rule.value.expire_after_days == null ? [] : [rule.value.expire_after_days]
        content {
          days = expiration.value
        }
      }
      noncurrent_version_expiration {
        noncurrent_days = var.noncurrent_version_retention_days
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.events]
}

# Notifications that Airflow received too often without deleting them (a task that keeps
# failing on one file) wait here for a person, rather than looping forever.
resource "aws_sqs_queue" "dead_letter" {
  for_each                  = var.streams
  name                      = "${var.name}-events-${each.key}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

# SSE-SQS rather than a KMS key: S3 can then send to the queue without a key grant.
resource "aws_sqs_queue" "stream" {
  for_each                   = var.streams
  name                       = "${var.name}-events-${each.key}"
  message_retention_seconds  = var.message_retention_seconds
  visibility_timeout_seconds = 300
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

# Only this bucket, in this account, may send to a stream's queue.
data "aws_iam_policy_document" "queue" {
  for_each = var.streams
  statement {
    sid       = "S3SendsNotifications"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.stream[each.key].arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.bucket_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "stream" {
  for_each  = var.streams
  queue_url = aws_sqs_queue.stream[each.key].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

# S3 checks that it may send to every queue when the notification is saved: after the policies.
resource "aws_s3_bucket_notification" "events" {
  count  = length(var.streams) > 0 ? 1 : 0
  bucket = local.bucket

  dynamic "queue" {
    for_each = var.streams
    content {
      id            = "stream-${queue.key}"
      queue_arn     = aws_sqs_queue.stream[queue.key].arn
      events        = ["s3:ObjectCreated:*"]
      filter_prefix = queue.value.prefix
    }
  }

  depends_on = [aws_sqs_queue_policy.stream]
}
