output "analytics_database" {
  description = "Database dbt builds into (SNOWFLAKE_DATABASE)."
  value       = snowflake_database.analytics.name
}

output "raw_database" {
  description = "Database Airbyte lands into."
  value       = snowflake_database.raw.name
}

output "transformer_role" {
  description = "Role dbt runs as (SNOWFLAKE_ROLE)."
  value       = snowflake_account_role.this["TRANSFORMER"].name
}

output "transforming_warehouse" {
  description = "Warehouse dbt runs on (SNOWFLAKE_WAREHOUSE)."
  value       = snowflake_warehouse.this["TRANSFORMING"].name
}

output "dbt_user" {
  description = "Service user of dbt (SNOWFLAKE_USER)."
  value       = snowflake_service_user.dbt.name
}

output "airbyte_user" {
  description = "Service user of the Airbyte destination."
  value       = snowflake_service_user.airbyte.name
}

output "zone_schemas" {
  description = "Analytics schemas, zones with their staging copies."
  value       = sort(tolist(local.schemas))
}
