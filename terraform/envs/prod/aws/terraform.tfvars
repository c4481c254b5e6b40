# prod: nothing secret here; secret values live in Secrets Manager (docs/deploy.md).
env                    = "prod"
region                 = "eu-west-1"
vpc_id                 = "vpc-0prod000000000000"
private_subnet_ids     = ["subnet-0proda0000000000", "subnet-0prodb0000000000"]
airflow_version        = "3.3.2"
mwaa_environment_class = "mw1.medium"
mwaa_max_workers       = 10
airbyte_instance_type  = "t3.xlarge"
airbyte_ssh_key_name   = "sluice-prod-airbyte"
ci_runner_cidr_blocks  = ["10.20.0.0/16"]
