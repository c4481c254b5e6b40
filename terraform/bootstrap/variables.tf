variable "region" {
  description = "Region of the state bucket (the envs' backend blocks name the same one)."
  type        = string
  default     = "eu-west-1"
}

variable "state_bucket" {
  description = "Name of the terraform state bucket (must match every env's backend block)."
  type        = string
  default     = "sluice-terraform-state"
}

variable "gitlab_url" {
  description = "GitLab instance that issues the CI ID tokens."
  type        = string
  default     = "https://gitlab.com"
}

variable "gitlab_project_path" {
  description = "GitLab project path (group/project) whose pipelines may assume the roles."
  type        = string
}

variable "default_branch" {
  description = "Protected default branch; only its pipelines may assume the deploy roles."
  type        = string
  default     = "main"
}

variable "envs" {
  description = "Environments that get a deploy role (and dev a plan role for merge requests)."
  type        = list(string)
  default     = ["dev", "prod"]
}
