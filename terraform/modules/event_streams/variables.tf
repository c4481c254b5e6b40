variable "name" {
  description = "Environment name, e.g. sluice-dev; prefixes the bucket, key and queues."
  type        = string
}

variable "bucket_name" {
  description = "Bucket the event files land in, created here; null means <name>-events. Ignored when existing_bucket_name is set."
  type        = string
  default     = null
}

variable "existing_bucket_name" {
  description = "An existing bucket to use instead of creating one. This module then owns that bucket's lifecycle rules and event notifications (S3 keeps one configuration of each per bucket) and nothing else of it."
  type        = string
  default     = null
}

variable "streams" {
  description = "Event streams by name (as in event_streams/): the key prefix their files land under (ending in /), and the age in days at which a file moves from S3 Standard to Standard-IA (warm_after_days: the stream's hot_days) and then to Glacier (cold_after_days: hot_days + warm_days). expire_after_days (hot + warm + cold days) deletes files for good; null keeps them."
  type = map(object({
    prefix            = string
    warm_after_days   = number
    cold_after_days   = number
    expire_after_days = optional(number)
  }))

  validation {
    condition     = alltrue([for s in values(var.streams) : can(regex("^[^/].*/$", s.prefix))])
    error_message = "Each stream's prefix must end in / and not start with one (payments/status/), so one stream's prefix never matches another's files."
  }

  # S3 moves nothing to Standard-IA before 30 days, and a file must stay 30 days there first
  validation {
    condition = alltrue([
      for s in values(var.streams) : s.warm_after_days >= 30 && s.cold_after_days >= s.warm_after_days + 30
    ])
    error_message = "warm_after_days must be at least 30 and cold_after_days at least warm_after_days + 30 (S3's minimum stays in Standard and Standard-IA)."
  }

  validation {
    condition = alltrue([
      for s in values(var.streams) : s.expire_after_days == null ? true : s.expire_after_days >= s.cold_after_days + 90
    ])
    error_message = "expire_after_days must be at least cold_after_days + 90 (Glacier's minimum storage duration)."
  }

  # S3 refuses two notifications whose prefixes overlap
  validation {
    condition = alltrue(flatten([
      for a, sa in var.streams : [for b, sb in var.streams : a == b || !startswith(sa.prefix, sb.prefix)]
    ]))
    error_message = "No stream's prefix may start another's: S3 refuses overlapping event notifications."
  }
}

variable "message_retention_seconds" {
  description = "How long a file's notification waits in its queue for Airflow (14 days: the longest SQS keeps one), so a paused pipeline misses none."
  type        = number
  default     = 1209600
}

variable "max_receive_count" {
  description = "Receives of one notification before it moves to the stream's dead-letter queue."
  type        = number
  default     = 5
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted event file's old version is kept."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
