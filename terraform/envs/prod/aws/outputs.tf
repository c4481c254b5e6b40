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
