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
