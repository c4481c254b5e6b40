# dev: nothing secret here; secret values live in Secrets Manager (docs/deploy.md).
env                    = "dev"
region                 = "eu-west-1"
vpc_id                 = "vpc-0dev000000000000"
private_subnet_ids     = ["subnet-0deva0000000000", "subnet-0devb0000000000"]
airflow_version        = "3.3.2"
mwaa_environment_class = "mw1.small"
mwaa_max_workers       = 3
airbyte_instance_type  = "t3.xlarge"
airbyte_ssh_key_name   = "sluice-dev-airbyte"
ci_runner_cidr_blocks  = ["10.10.0.0/16"]

# The demo's event stream, event_streams/payment_status.yaml: its retention there (hot 90 days
# in the warehouse, warm 275 in Standard-IA, cold 2190 in Glacier) as ages of a file here.
event_streams = {
  payment_status = {
    prefix            = "payment_status/"
    warm_after_days   = 90
    cold_after_days   = 365
    expire_after_days = 2555
  }
}
# Snowflake is the warehouse; true adds Redshift Serverless and its COPY role (docs/deploy.md).
redshift_enabled = false
