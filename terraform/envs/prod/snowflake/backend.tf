terraform {
  required_version = ">= 1.11"

  required_providers {
    snowflake = {
      source  = "snowflakedb/snowflake"
      version = "~> 2.0"
    }
  }

  backend "s3" {
    bucket       = "sluice-terraform-state"
    key          = "prod/snowflake.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

# Key-pair auth as the TERRAFORM user; the private key comes from the SNOWFLAKE_PRIVATE_KEY
# environment variable (CI reads it from Secrets Manager), never from a file in the repository.
provider "snowflake" {
  alias             = "sysadmin"
  organization_name = var.organization_name
  account_name      = var.account_name
  user              = var.terraform_user
  authenticator     = "SNOWFLAKE_JWT"
  role              = "SYSADMIN"
}

provider "snowflake" {
  alias             = "securityadmin"
  organization_name = var.organization_name
  account_name      = var.account_name
  user              = var.terraform_user
  authenticator     = "SNOWFLAKE_JWT"
  role              = "SECURITYADMIN"
}
