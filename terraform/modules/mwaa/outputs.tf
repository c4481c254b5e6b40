output "environment_name" {
  description = "MWAA environment name (make deploy ENV=... updates it)."
  value       = aws_mwaa_environment.this.name
}

output "environment_arn" {
  description = "MWAA environment ARN."
  value       = aws_mwaa_environment.this.arn
}

output "webserver_url" {
  description = "Airflow UI host (private: reachable from inside the VPC)."
  value       = aws_mwaa_environment.this.webserver_url
}

output "source_bucket" {
  description = "Bucket that make deploy uploads dags/, plugins.zip and requirements.txt to."
  value       = aws_s3_bucket.source.bucket
}

output "execution_role_arn" {
  description = "Role MWAA's components run as."
  value       = aws_iam_role.execution.arn
}

output "security_group_id" {
  description = "Security group of the MWAA components; the Airbyte host admits it on the API port."
  value       = aws_security_group.mwaa.id
}
