# dev: public keys only; the private keys live in Secrets Manager (docs/deploy.md, step 5).
organization_name  = "EXAMPLEORG"
account_name       = "SLUICE"
terraform_user     = "TERRAFORM"
name_suffix        = "_DEV"
dbt_public_key     = "REPLACE-with-the-dbt-user-public-key-body"
airbyte_public_key = "REPLACE-with-the-airbyte-user-public-key-body"
