variable "name" {
  description = "Name prefix, e.g. sluice-dev."
  type        = string
}

variable "instance_type" {
  description = "abctl runs Airbyte in a kind cluster inside Docker: Airbyte asks for at least 4 CPUs and 8 GiB for it, and each running sync adds a source, a destination and an orchestrator pod. t3.xlarge (4 vCPU, 16 GiB) meets the CPU floor with memory headroom for a few concurrent syncs; t3.large (2 vCPU) would need abctl's low-resource mode, which disables the connector builder and throttles syncs."
  type        = string
  default     = "t3.xlarge"
}

variable "root_volume_gb" {
  description = "Root volume: Docker images of the kind node and every connector, plus Airbyte's local database and logs."
  type        = number
  default     = 100
}

variable "vpc_id" {
  description = "VPC of the host."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet of the host (no public IP; operators reach it through SSM Session Manager)."
  type        = string
}

variable "ssh_key_name" {
  description = "EC2 key pair for ansible's SSH, tunnelled through Session Manager (no port 22 is opened)."
  type        = string
}

variable "api_port" {
  description = "Port abctl serves Airbyte's web app and API on."
  type        = number
  default     = 8000
}

variable "api_client_security_group_ids" {
  description = "Security groups allowed to call the Airbyte API (the MWAA environment's)."
  type        = list(string)
  default     = []
}

variable "api_client_cidr_blocks" {
  description = "Networks allowed to call the Airbyte API (the GitLab runners that run sluice airbyte apply)."
  type        = list(string)
  default     = []
}

variable "egress_ports" {
  description = "TCP ports the host may open to anywhere: package mirrors (80), image registries and connector APIs (443)."
  type        = list(number)
  default     = [80, 443]
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
