output "endpoint" {
  description = "Host of the workgroup endpoint (REDSHIFT_HOST in dbt/profiles.yml)."
  value       = aws_redshiftserverless_workgroup.this.endpoint[0].address
}

output "port" {
  description = "Port of the workgroup endpoint (REDSHIFT_PORT)."
  value       = aws_redshiftserverless_workgroup.this.port
}

output "database_name" {
  description = "Database dbt builds into (REDSHIFT_DATABASE)."
  value       = aws_redshiftserverless_namespace.this.db_name
}

output "workgroup_name" {
  description = "Workgroup name (REDSHIFT_WORKGROUP, for REDSHIFT_METHOD=iam_role)."
  value       = aws_redshiftserverless_workgroup.this.workgroup_name
}

output "workgroup_arn" {
  description = "Workgroup ARN: the MWAA role may get temporary credentials for it."
  value       = aws_redshiftserverless_workgroup.this.arn
}

output "copy_role_arn" {
  description = "IAM role COPY reads the event bucket as (IAM_ROLE in the load task's COPY; also the namespace's default role)."
  value       = aws_iam_role.copy.arn
}

output "admin_password_secret_arn" {
  description = "Secrets Manager secret Redshift keeps the admin password in (the ARN only; the password is never in state)."
  value       = aws_redshiftserverless_namespace.this.admin_password_secret_arn
}

output "security_group_id" {
  description = "Security group of the workgroup."
  value       = aws_security_group.this.id
}
