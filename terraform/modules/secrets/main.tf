# Secret containers only. Terraform never writes a secret value: a value in a
# aws_secretsmanager_secret_version would be stored in plain text in the state file and the
# plan. Operators put values with the AWS CLI (docs/deploy.md), so state holds names and ARNs.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "secrets" {
  description             = "${var.prefix}: Secrets Manager values"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${replace(var.prefix, "/", "-")}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

# Key use is granted by IAM policies of the readers (the MWAA role, the deploy roles),
# which pin kms:ViaService to Secrets Manager.
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
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_secretsmanager_secret" "this" {
  for_each                = var.secrets
  name                    = "${var.prefix}/${each.key}"
  description             = each.value
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}
