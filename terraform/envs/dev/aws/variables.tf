variable "env" {
  description = "Environment name (dev or prod)."
  type        = string
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "vpc_id" {
  description = "VPC that hosts MWAA and the Airbyte host."
  type        = string
}

variable "private_subnet_ids" {
  description = "Two private subnets in different availability zones, with outbound internet (NAT)."
  type        = list(string)
}

variable "airflow_version" {
  description = "MWAA Airflow version; equals the apache-airflow pin in requirements.txt."
  type        = string
}

variable "mwaa_environment_class" {
  description = "MWAA environment class."
  type        = string
}

variable "mwaa_max_workers" {
  description = "Upper bound of MWAA workers."
  type        = number
}

variable "airbyte_instance_type" {
  description = "EC2 instance type of the Airbyte host (see modules/airbyte_host)."
  type        = string
}

variable "airbyte_ssh_key_name" {
  description = "EC2 key pair ansible connects with, through Session Manager."
  type        = string
}

variable "ci_runner_cidr_blocks" {
  description = "Networks of the GitLab runners that call the Airbyte API (sluice airbyte apply)."
  type        = list(string)
}

variable "openlineage_url" {
  description = "OpenLineage receiver (Marquez, DataHub) of every task's lineage; empty: none."
  type        = string
  default     = ""
}

variable "event_streams" {
  description = "Event streams whose files land in S3 (see modules/event_streams): prefix, warm_after_days, cold_after_days, optional expire_after_days. Empty: no event bucket or queues."
  type = map(object({
    prefix            = string
    warm_after_days   = number
    cold_after_days   = number
    expire_after_days = optional(number)
  }))
  default = {}
}

variable "event_bucket_name" {
  description = "An existing bucket the event files land in; null creates sluice-<env>-events."
  type        = string
  default     = null
}

variable "redshift_enabled" {
  description = "Create Redshift Serverless (namespace, workgroup, COPY role) for the dbt target redshift."
  type        = bool
  default     = false
}

variable "redshift_base_capacity" {
  description = "RPUs the Redshift workgroup starts queries with (a multiple of 8)."
  type        = number
  default     = 8
}

variable "redshift_max_capacity" {
  description = "Most RPUs the Redshift workgroup scales to."
  type        = number
  default     = 64
}

variable "redshift_subnet_ids" {
  description = "Subnets of the Redshift workgroup; empty means private_subnet_ids."
  type        = list(string)
  default     = []
}
