# Warehouses, databases and the zone schemas of one environment. A zone that publishes
# atomically builds into <ZONE>__STAGING and ALTER SCHEMA ... SWAP WITH makes it live; Snowflake
# lets only a role that owns both schemas swap them, so TRANSFORMER owns every analytics schema.

locals {
  staging_suffix = "__STAGING"
  zone_schemas   = flatten([for zone in var.zones : [zone, "${zone}${local.staging_suffix}"]])
  schemas        = toset(concat(local.zone_schemas, var.extra_schemas))
  reader_schemas = toset(flatten([for zone in var.reader_zones : [zone, "${zone}${local.staging_suffix}"]]))
}

resource "snowflake_warehouse" "this" {
  provider = snowflake.sysadmin
  for_each = {
    TRANSFORMING = var.warehouse_sizes.transforming
    LOADING      = var.warehouse_sizes.loading
    REPORTING    = var.warehouse_sizes.reporting
  }
  name                = "${each.key}${var.suffix}"
  warehouse_size      = each.value
  auto_suspend        = 60
  auto_resume         = "true"
  initially_suspended = true
  comment             = "sluice: ${lower(each.key)}"
}

resource "snowflake_database" "raw" {
  provider                    = snowflake.sysadmin
  name                        = "RAW${var.suffix}"
  comment                     = "sluice: what Airbyte lands, one schema per connection"
  data_retention_time_in_days = 7
}

resource "snowflake_database" "analytics" {
  provider                    = snowflake.sysadmin
  name                        = "ANALYTICS${var.suffix}"
  comment                     = "sluice: the dbt project's zones"
  data_retention_time_in_days = 7
}

resource "snowflake_schema" "analytics" {
  provider = snowflake.sysadmin
  for_each = local.schemas
  database = snowflake_database.analytics.name
  name     = each.value
  comment  = "sluice zone schema"
}

# COPY keeps the grants REPORTER holds when ownership moves to TRANSFORMER.
resource "snowflake_grant_ownership" "analytics_schema" {
  provider            = snowflake.sysadmin
  for_each            = local.schemas
  account_role_name   = snowflake_account_role.this["TRANSFORMER"].name
  outbound_privileges = "COPY"
  on {
    object_type = "SCHEMA"
    object_name = "\"${snowflake_database.analytics.name}\".\"${snowflake_schema.analytics[each.value].name}\""
  }
  # SYSADMIN keeps managing the schema through the role hierarchy (TRANSFORMER -> SYSADMIN)
  depends_on = [snowflake_grant_account_role.to_sysadmin]
}
