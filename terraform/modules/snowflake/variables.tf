variable "suffix" {
  description = "Appended to every object name: \"_DEV\" in dev, \"\" in prod, matching dbt/profiles.yml's defaults (TRANSFORMER_DEV, ANALYTICS_DEV, ...)."
  type        = string
}

variable "zones" {
  description = "sluice zones, one schema each in the analytics database."
  type        = list(string)
  default     = ["BRONZE", "SILVER", "GOLD"]
}

variable "extra_schemas" {
  description = "Other schemas dbt builds into (RAW: the project's seeds)."
  type        = list(string)
  default     = ["RAW"]
}

variable "reader_zones" {
  description = "Zones the REPORTER role reads (with their staging copies, which a publish swaps live)."
  type        = list(string)
  default     = ["GOLD"]
}

variable "warehouse_sizes" {
  description = "Warehouse size by purpose."
  type        = object({ transforming = string, loading = string, reporting = string })
  default     = { transforming = "XSMALL", loading = "XSMALL", reporting = "XSMALL" }
}

variable "dbt_public_key" {
  description = "RSA public key (PEM body, no header lines) of the dbt service user; its private key lives only in Secrets Manager."
  type        = string
}

variable "airbyte_public_key" {
  description = "RSA public key (PEM body, no header lines) of the Airbyte service user."
  type        = string
}
