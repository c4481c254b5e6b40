terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # State in the bootstrap bucket (terraform/bootstrap); use_lockfile takes an S3 lock
  # object beside the state, so no DynamoDB table is needed.
  backend "s3" {
    bucket       = "sluice-terraform-state"
    key          = "dev/aws.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "sluice"
      environment = var.env
      managed_by  = "terraform"
    }
  }
}
