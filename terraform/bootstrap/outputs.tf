output "state_bucket" {
  description = "Bucket of every env's S3 backend."
  value       = aws_s3_bucket.state.bucket
}

output "gitlab_ci_variables" {
  description = "Set these as GitLab CI/CD variables (Settings > CI/CD > Variables); they are ARNs, not secrets."
  value = merge(
    { AWS_PLAN_ROLE_ARN_DEV = aws_iam_role.plan_dev.arn },
    { for env, role in aws_iam_role.deploy : "AWS_DEPLOY_ROLE_ARN_${upper(env)}" => role.arn },
  )
}
