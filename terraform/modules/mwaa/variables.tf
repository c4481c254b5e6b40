variable "name" {
  description = "Environment name, e.g. sluice-dev; prefixes the bucket, role, security group and MWAA environment."
  type        = string
}

variable "bucket_name" {
  description = "Source bucket name; null means <name>-mwaa. Bucket names are global: set one when that is taken, and put the same name in deploy/environments.yml."
  type        = string
  default     = null
}

variable "airflow_version" {
  description = "MWAA Airflow version; must equal the apache-airflow pin in requirements.txt (a policy test checks it)."
  type        = string
}

variable "environment_class" {
  description = "MWAA environment class (mw1.micro, mw1.small, mw1.medium, ...)."
  type        = string
  default     = "mw1.small"
}

variable "max_workers" {
  description = "Upper bound of MWAA's autoscaled Celery workers."
  type        = number
  default     = 5
}

variable "vpc_id" {
  description = "VPC of the MWAA environment."
  type        = string
}

variable "private_subnet_ids" {
  description = "Two private subnets in different availability zones, with a NAT route or VPC endpoints (MWAA requires exactly two)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) == 2
    error_message = "MWAA needs exactly two private subnets in different availability zones."
  }
}

variable "secrets_prefix" {
  description = "Secrets Manager name prefix of the Airflow connections and variables (connections under <prefix>/connections, variables under <prefix>/variables)."
  type        = string
  default     = "airflow"
}

variable "secrets_kms_key_arn" {
  description = "KMS key that encrypts the Airflow secrets; the execution role may decrypt with it only through Secrets Manager."
  type        = string
}

variable "egress_cidr_blocks" {
  description = "Where the workers may open HTTPS connections (Snowflake, AWS APIs, the Airbyte API through its load balancer or host)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "airbyte_security_group_id" {
  description = "Security group of the Airbyte host; the workers call its API on airbyte_api_port. Null when Airbyte is reached another way."
  type        = string
  default     = null
}

variable "airbyte_api_port" {
  description = "Port of the Airbyte API on the Airbyte host (abctl serves on 8000 by default)."
  type        = number
  default     = 8000
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten DAG, plugins.zip or requirements.txt version is kept (rollback window)."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}

variable "openlineage_url" {
  description = "OpenLineage receiver every task sends its lineage to (Marquez: http://host:5000; DataHub: its GMS URL). Empty: no lineage. No API key here: it would land in the state."
  type        = string
  default     = ""
}

variable "openlineage_endpoint" {
  description = "Path of the receiver's lineage API (Marquez: api/v1/lineage; DataHub: openapi/openlineage/api/v1/lineage)."
  type        = string
  default     = "api/v1/lineage"
}

variable "openlineage_namespace" {
  description = "OpenLineage namespace of the environment's Airflow jobs."
  type        = string
  default     = "sluice"
}

variable "event_queue_arns" {
  description = "SQS queues of event streams (the event_streams module): the workers' AssetWatchers receive and delete their notifications."
  type        = list(string)
  default     = []
}

variable "event_bucket_arns" {
  description = "Buckets of event files the load tasks read."
  type        = list(string)
  default     = []
}

variable "event_kms_key_arns" {
  description = "Keys of those buckets; the workers decrypt with them only through S3."
  type        = list(string)
  default     = []
}

variable "redshift_workgroup_arns" {
  description = "Redshift Serverless workgroups dbt may log in to as this role (dbt/profiles.yml target redshift with REDSHIFT_METHOD=iam_role)."
  type        = list(string)
  default     = []
}

variable "redshift_security_group_id" {
  description = "Security group of the Redshift Serverless workgroup; the workers connect to it on redshift_port. Null without Redshift."
  type        = string
  default     = null
}

variable "redshift_port" {
  description = "Port of the Redshift Serverless workgroup endpoint."
  type        = number
  default     = 5439
}
