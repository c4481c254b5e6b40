output "mwaa_environment_name" {
  description = "make deploy ENV=<env> updates this environment."
  value       = module.mwaa.environment_name
}

output "mwaa_source_bucket" {
  description = "Bucket make deploy uploads to."
  value       = module.mwaa.source_bucket
}

output "mwaa_webserver_url" {
  description = "Airflow UI (private)."
  value       = module.mwaa.webserver_url
}

output "airbyte_instance_id" {
  description = "Instance id for the ansible inventory (ansible_host)."
  value       = module.airbyte_host.instance_id
}

output "airbyte_api_url" {
  description = "Airbyte public API base URL inside the VPC."
  value       = "http://${module.airbyte_host.private_ip}:8000/api/public/v1"
}

output "secret_names" {
  description = "Secrets to fill with aws secretsmanager put-secret-value."
  value       = module.secrets.secret_names
}

output "event_bucket" {
  description = "Bucket the event files land in (null without event streams)."
  value       = one(module.event_streams[*].bucket_name)
}

output "event_queue_urls" {
  description = "SQS queue URL by event stream, for the pipelines' AssetWatchers."
  value       = one(module.event_streams[*].queue_urls)
}

output "redshift_endpoint" {
  description = "REDSHIFT_HOST of the dbt target redshift (null without Redshift)."
  value       = one(module.redshift[*].endpoint)
}

output "redshift_copy_role_arn" {
  description = "IAM role the COPY statements name (IAM_ROLE)."
  value       = one(module.redshift[*].copy_role_arn)
}

output "redshift_admin_password_secret_arn" {
  description = "Where Redshift keeps its admin password (an ARN; the password itself is never in state)."
  value       = one(module.redshift[*].admin_password_secret_arn)
}
