# Run once per AWS account, before any env: the state bucket every env's S3 backend uses
# and the roles GitLab CI assumes through OIDC. Its own state starts local (there is no
# bucket yet); docs/deploy.md, step 1, moves it into the bucket it created.
terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project    = "sluice"
      managed_by = "terraform"
    }
  }
}
