locals {
  name   = "sluice-${var.env}"
  prefix = "sluice/${var.env}"
}

module "secrets" {
  source = "../../../modules/secrets"
  prefix = local.prefix
  secrets = {
    "airflow/connections/snowflake_default" = "Airflow connection (JSON) dbt uses on MWAA: Snowflake account, DBT user, role, warehouse and its private key"
    "airflow/connections/airbyte_default"   = "Airflow connection (JSON): Airbyte API URL with the client id and secret the sync tasks use"
    "airbyte/admin"                         = "abctl credentials (JSON: email, password, client_id, client_secret) ansible sets on the Airbyte host"
    "airbyte/apply"                         = "Environment (JSON object NAME -> value) of sluice airbyte apply: the $${VAR} references in airbyte_config/ and the API credentials"
    "snowflake/terraform"                   = "Private key (PEM) of the TERRAFORM Snowflake user, read by CI for envs/<env>/snowflake"
  }
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
}
