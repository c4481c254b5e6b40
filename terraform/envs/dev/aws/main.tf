locals {
  name   = "sluice-${var.env}"
  prefix = "sluice/${var.env}"
}

module "secrets" {
  source = "../../../modules/secrets"
  prefix = local.prefix
  secrets = merge({
    "airflow/connections/snowflake_default" = "Airflow connection (JSON) dbt uses on MWAA: Snowflake account, DBT user, role, warehouse and its private key"
    "airflow/connections/airbyte_default"   = "Airflow connection (JSON): Airbyte API URL with the client id and secret the sync tasks use"
    "airbyte/admin"                         = "abctl credentials (JSON: email, password, client_id, client_secret) ansible sets on the Airbyte host"
    "airbyte/apply"                         = "Environment (JSON object NAME -> value) of sluice airbyte apply: the $${VAR} references in airbyte_config/ and the API credentials"
    "snowflake/terraform"                   = "Private key (PEM) of the TERRAFORM Snowflake user, read by CI for envs/<env>/snowflake"
    }, var.redshift_enabled ? {
    "airflow/connections/redshift_default" = "Airflow connection (JSON) dbt uses on MWAA with the redshift target: workgroup host, database, the dbt user and its password (docs/deploy.md)"
  } : {})
}

module "airbyte_host" {
  source                        = "../../../modules/airbyte_host"
  name                          = local.name
  instance_type                 = var.airbyte_instance_type
  vpc_id                        = var.vpc_id
  subnet_id                     = var.private_subnet_ids[0]
  ssh_key_name                  = var.airbyte_ssh_key_name
  api_client_security_group_ids = [module.mwaa.security_group_id]
  api_client_cidr_blocks        = var.ci_runner_cidr_blocks
}

module "mwaa" {
  source                    = "../../../modules/mwaa"
  name                      = local.name
  airflow_version           = var.airflow_version
  environment_class         = var.mwaa_environment_class
  max_workers               = var.mwaa_max_workers
  vpc_id                    = var.vpc_id
  private_subnet_ids        = var.private_subnet_ids
  secrets_prefix            = "${local.prefix}/airflow"
  secrets_kms_key_arn       = module.secrets.kms_key_arn
  airbyte_security_group_id = module.airbyte_host.security_group_id
  openlineage_url           = var.openlineage_url

  event_queue_arns           = flatten([for streams in module.event_streams : values(streams.queue_arns)])
  event_bucket_arns          = module.event_streams[*].bucket_arn
  event_kms_key_arns         = compact(module.event_streams[*].kms_key_arn)
  redshift_workgroup_arns    = module.redshift[*].workgroup_arn
  redshift_security_group_id = one(module.redshift[*].security_group_id)
}

# Event files in S3 announced on SQS, one queue per stream (README, event streams); off while
# event_streams is empty.
module "event_streams" {
  count                = length(var.event_streams) > 0 ? 1 : 0
  source               = "../../../modules/event_streams"
  name                 = local.name
  existing_bucket_name = var.event_bucket_name
  streams              = var.event_streams
}

# Redshift Serverless as the warehouse (dbt/profiles.yml target redshift); off unless
# redshift_enabled. COPY reads the event bucket as the module's role.
module "redshift" {
  count                     = var.redshift_enabled ? 1 : 0
  source                    = "../../../modules/redshift_serverless"
  name                      = local.name
  base_capacity             = var.redshift_base_capacity
  max_capacity              = var.redshift_max_capacity
  vpc_id                    = var.vpc_id
  subnet_ids                = coalescelist(var.redshift_subnet_ids, var.private_subnet_ids)
  client_security_group_ids = [module.mwaa.security_group_id]
  copy_bucket_arns          = module.event_streams[*].bucket_arn
  copy_kms_key_arns         = compact(module.event_streams[*].kms_key_arn)
}
