terraform {
  required_version = ">= 1.11"

  required_providers {
    snowflake = {
      source  = "snowflakedb/snowflake"
      version = "~> 2.0"
      # SYSADMIN creates warehouses, databases and schemas; SECURITYADMIN roles, users, grants.
      configuration_aliases = [snowflake.sysadmin, snowflake.securityadmin]
    }
  }
}
