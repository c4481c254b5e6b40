module "snowflake" {
  source = "../../../modules/snowflake"
  providers = {
    snowflake.sysadmin      = snowflake.sysadmin
    snowflake.securityadmin = snowflake.securityadmin
  }
  suffix             = var.name_suffix
  dbt_public_key     = var.dbt_public_key
  airbyte_public_key = var.airbyte_public_key
}

output "dbt_connection" {
  description = "Non-secret fields of the Airflow snowflake_default connection (docs/deploy.md, step 5)."
  value = {
    user      = module.snowflake.dbt_user
    role      = module.snowflake.transformer_role
    warehouse = module.snowflake.transforming_warehouse
    database  = module.snowflake.analytics_database
  }
}

output "zone_schemas" {
  description = "Analytics schemas, zones with their staging copies."
  value       = module.snowflake.zone_schemas
}
