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

# The demo's event stream (event_streams/ in the repository); files are deleted after 7 years.
event_streams = {
  payment_status = {
    prefix            = "payments/status/"
    warm_after_days   = 30
    cold_after_days   = 180
    expire_after_days = 2555
  }
}
redshift_enabled = false
