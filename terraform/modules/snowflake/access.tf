# Roles, service users and grants. Users authenticate with key pairs only: no password is
# set, so none can leak through state, a plan or a log.

resource "snowflake_account_role" "this" {
  provider = snowflake.securityadmin
  for_each = {
    LOADER      = "Airbyte: writes RAW"
    TRANSFORMER = "dbt: reads RAW, owns and builds the ANALYTICS zones, swaps staging schemas"
    REPORTER    = "Readers: the published zones"
  }
  name    = "${each.key}${var.suffix}"
  comment = "sluice: ${each.value}"
}

# Functional roles roll up to SYSADMIN so terraform (as SYSADMIN) still manages what they own.
resource "snowflake_grant_account_role" "to_sysadmin" {
  provider         = snowflake.securityadmin
  for_each         = snowflake_account_role.this
  role_name        = each.value.name
  parent_role_name = "SYSADMIN"
}

resource "snowflake_service_user" "dbt" {
  provider          = snowflake.securityadmin
  name              = "DBT${var.suffix}"
  login_name        = "DBT${var.suffix}"
  default_role      = snowflake_account_role.this["TRANSFORMER"].name
  default_warehouse = snowflake_warehouse.this["TRANSFORMING"].name
  rsa_public_key    = var.dbt_public_key
  comment           = "sluice: dbt on MWAA (key-pair auth)"
}

resource "snowflake_service_user" "airbyte" {
  provider          = snowflake.securityadmin
  name              = "AIRBYTE${var.suffix}"
  login_name        = "AIRBYTE${var.suffix}"
  default_role      = snowflake_account_role.this["LOADER"].name
  default_warehouse = snowflake_warehouse.this["LOADING"].name
  rsa_public_key    = var.airbyte_public_key
  comment           = "sluice: Airbyte destination (key-pair auth)"
}

resource "snowflake_grant_account_role" "dbt" {
  provider  = snowflake.securityadmin
  role_name = snowflake_account_role.this["TRANSFORMER"].name
  user_name = snowflake_service_user.dbt.name
}

resource "snowflake_grant_account_role" "airbyte" {
  provider  = snowflake.securityadmin
  role_name = snowflake_account_role.this["LOADER"].name
  user_name = snowflake_service_user.airbyte.name
}

# --- warehouses -----------------------------------------------------------------------------

resource "snowflake_grant_privileges_to_account_role" "warehouse" {
  provider = snowflake.securityadmin
  for_each = {
    LOADER      = "LOADING"
    TRANSFORMER = "TRANSFORMING"
    REPORTER    = "REPORTING"
  }
  account_role_name = snowflake_account_role.this[each.key].name
  privileges        = ["USAGE", "OPERATE"]
  on_account_object {
    object_type = "WAREHOUSE"
    object_name = snowflake_warehouse.this[each.value].name
  }
}

# --- RAW: Airbyte writes, dbt reads ---------------------------------------------------------

resource "snowflake_grant_privileges_to_account_role" "loader_raw" {
  provider          = snowflake.securityadmin
  account_role_name = snowflake_account_role.this["LOADER"].name
  privileges        = ["USAGE", "CREATE SCHEMA"]
  on_account_object {
    object_type = "DATABASE"
    object_name = snowflake_database.raw.name
  }
}

resource "snowflake_grant_privileges_to_account_role" "transformer_raw" {
  provider          = snowflake.securityadmin
  account_role_name = snowflake_account_role.this["TRANSFORMER"].name
  privileges        = ["USAGE"]
  on_account_object {
    object_type = "DATABASE"
    object_name = snowflake_database.raw.name
  }
}

resource "snowflake_grant_privileges_to_account_role" "transformer_raw_schemas" {
  provider          = snowflake.securityadmin
  account_role_name = snowflake_account_role.this["TRANSFORMER"].name
  privileges        = ["USAGE"]
  on_schema {
    future_schemas_in_database = snowflake_database.raw.name
  }
}

resource "snowflake_grant_privileges_to_account_role" "transformer_raw_tables" {
  provider          = snowflake.securityadmin
  account_role_name = snowflake_account_role.this["TRANSFORMER"].name
  privileges        = ["SELECT"]
  on_schema_object {
    future {
      object_type_plural = "TABLES"
      in_database        = snowflake_database.raw.name
    }
  }
}

# --- ANALYTICS: dbt owns the schemas (see main.tf), readers read the published zones ---------

resource "snowflake_grant_privileges_to_account_role" "transformer_analytics" {
  provider          = snowflake.securityadmin
  account_role_name = snowflake_account_role.this["TRANSFORMER"].name
  privileges        = ["USAGE", "CREATE SCHEMA"]
  on_account_object {
    object_type = "DATABASE"
    object_name = snowflake_database.analytics.name
  }
}

resource "snowflake_grant_privileges_to_account_role" "reporter_analytics" {
  provider          = snowflake.securityadmin
  account_role_name = snowflake_account_role.this["REPORTER"].name
  privileges        = ["USAGE"]
  on_account_object {
    object_type = "DATABASE"
    object_name = snowflake_database.analytics.name
  }
}

# Granted on the live schema and its staging copy alike: SWAP exchanges the schemas' names,
# so the grants readers hold must already sit on whichever schema becomes live.
resource "snowflake_grant_privileges_to_account_role" "reporter_zone" {
  provider          = snowflake.securityadmin
  for_each          = local.reader_schemas
  account_role_name = snowflake_account_role.this["REPORTER"].name
  privileges        = ["USAGE"]
  on_schema {
    schema_name = "\"${snowflake_database.analytics.name}\".\"${snowflake_schema.analytics[each.value].name}\""
  }
}

resource "snowflake_grant_privileges_to_account_role" "reporter_zone_objects" {
  provider = snowflake.securityadmin
  for_each = {
    for pair in setproduct(tolist(local.reader_schemas), ["TABLES", "VIEWS"]) : "${pair[0]}.${pair[1]}" => pair
  }
  account_role_name = snowflake_account_role.this["REPORTER"].name
  privileges        = ["SELECT"]
  on_schema_object {
    future {
      object_type_plural = each.value[1]
      in_schema          = "\"${snowflake_database.analytics.name}\".\"${snowflake_schema.analytics[each.value[0]].name}\""
    }
  }
}
