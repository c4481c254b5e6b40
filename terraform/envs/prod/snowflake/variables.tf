variable "organization_name" {
  description = "Snowflake organization name (the first half of <org>-<account>)."
  type        = string
}

variable "account_name" {
  description = "Snowflake account name."
  type        = string
}

variable "terraform_user" {
  description = "Snowflake user terraform authenticates as (granted SYSADMIN and SECURITYADMIN)."
  type        = string
}

variable "name_suffix" {
  description = "Suffix of every object name (\"_DEV\" or \"\")."
  type        = string
}

variable "dbt_public_key" {
  description = "RSA public key body of the dbt service user (docs/deploy.md, step 5)."
  type        = string

  validation {
    condition     = can(regex("^MII[A-Za-z0-9+/=]+$", replace(var.dbt_public_key, "\n", "")))
    error_message = "dbt_public_key must be the base64 body of an RSA public key (starts with MII); see docs/deploy.md."
  }
}

variable "airbyte_public_key" {
  description = "RSA public key body of the Airbyte service user (docs/deploy.md, step 5)."
  type        = string

  validation {
    condition     = can(regex("^MII[A-Za-z0-9+/=]+$", replace(var.airbyte_public_key, "\n", "")))
    error_message = "airbyte_public_key must be the base64 body of an RSA public key (starts with MII); see docs/deploy.md."
  }
}
