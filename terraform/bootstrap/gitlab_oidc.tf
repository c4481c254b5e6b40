# GitLab CI assumes these roles with its job ID token (id_tokens, aud sts.amazonaws.com):
# no AWS key is stored in GitLab. The token's sub claim says which project and ref the
# pipeline runs for, and each role's trust policy pins it.

resource "aws_iam_openid_connect_provider" "gitlab" {
  url            = var.gitlab_url
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "trust" {
  for_each = {
    # any branch or merge request of the project: read-only plans of dev
    plan-dev = "project_path:${var.gitlab_project_path}:ref_type:branch:ref:*"
    # only pipelines of the protected default branch deploy
    deploy = "project_path:${var.gitlab_project_path}:ref_type:branch:ref:${var.default_branch}"
  }
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.gitlab.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.gitlab_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "${local.gitlab_host}:sub"
      values   = [each.value]
    }
  }
}

resource "aws_iam_role" "plan_dev" {
  name                 = "sluice-gitlab-plan-dev"
  assume_role_policy   = data.aws_iam_policy_document.trust["plan-dev"].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "plan_dev_read" {
  role       = aws_iam_role.plan_dev.name
  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
}

# ReadOnlyAccess cannot take the S3 lock file (use_lockfile) nor decrypt the state.
data "aws_iam_policy_document" "plan_dev_state" {
  statement {
    sid       = "LockDevState"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state.arn}/dev/*.tflock"]
  }
  statement {
    sid       = "DecryptState"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.state.arn]
  }
}

resource "aws_iam_role_policy" "plan_dev_state" {
  name   = "terraform-state-lock"
  role   = aws_iam_role.plan_dev.id
  policy = data.aws_iam_policy_document.plan_dev_state.json
}

resource "aws_iam_role" "deploy" {
  for_each             = toset(var.envs)
  name                 = "sluice-gitlab-deploy-${each.value}"
  assume_role_policy   = data.aws_iam_policy_document.trust["deploy"].json
  max_session_duration = 3600
}

# Everything but IAM (terraform builds MWAA, EC2, S3, KMS, Secrets Manager; make deploy
# uploads and updates MWAA)...
resource "aws_iam_role_policy_attachment" "deploy_power_user" {
  for_each   = aws_iam_role.deploy
  role       = each.value.name
  policy_arn = "arn:aws:iam::aws:policy/PowerUserAccess"
}

# ...and IAM only for the project's own roles and instance profiles.
data "aws_iam_policy_document" "deploy_iam" {
  statement {
    sid = "ManageSluiceRoles"
    actions = [
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:GetRole",
      "iam:UpdateRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:ListRolePolicies",
      "iam:ListAttachedRolePolicies",
      "iam:GetRolePolicy",
      "iam:PutRolePolicy",
      "iam:DeleteRolePolicy",
      "iam:AttachRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PassRole",
      "iam:ListInstanceProfilesForRole",
      "iam:CreateInstanceProfile",
      "iam:DeleteInstanceProfile",
      "iam:GetInstanceProfile",
      "iam:AddRoleToInstanceProfile",
      "iam:RemoveRoleFromInstanceProfile",
      "iam:TagInstanceProfile",
    ]
    resources = [
      "arn:aws:iam::${local.account_id}:role/sluice-*",
      "arn:aws:iam::${local.account_id}:instance-profile/sluice-*",
    ]
  }
  statement {
    sid       = "MwaaServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:aws:iam::${local.account_id}:role/aws-service-role/airflow.amazonaws.com/*"]
  }
}

resource "aws_iam_role_policy" "deploy_iam" {
  for_each = aws_iam_role.deploy
  name     = "sluice-iam"
  role     = each.value.id
  policy   = data.aws_iam_policy_document.deploy_iam.json
}
