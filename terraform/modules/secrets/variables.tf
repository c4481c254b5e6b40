variable "prefix" {
  description = "Name prefix of every secret, e.g. sluice/dev; the Airflow backend reads <prefix>/airflow/connections/* and <prefix>/airflow/variables/*."
  type        = string
}

variable "secrets" {
  description = "Secret names below the prefix, each with what it holds. Values are put by an operator (aws secretsmanager put-secret-value), never by terraform."
  type        = map(string)
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
