output "bucket_name" {
  description = "Bucket the event files land in."
  value       = local.bucket
}

output "bucket_arn" {
  description = "ARN of the event bucket (the Redshift COPY role and the load task read it)."
  value       = local.bucket_arn
}

output "kms_key_arn" {
  description = "Key a created bucket encrypts with (null for an existing bucket: its own encryption applies)."
  value       = one(aws_kms_key.events[*].arn)
}

output "queue_arns" {
  description = "SQS queue ARN by stream."
  value       = { for name, queue in aws_sqs_queue.stream : name => queue.arn }
}

output "queue_urls" {
  description = "SQS queue URL by stream: what the pipeline's AssetWatcher polls."
  value       = { for name, queue in aws_sqs_queue.stream : name => queue.url }
}

output "dead_letter_queue_arns" {
  description = "Dead-letter queue ARN by stream: notifications Airflow could not take."
  value       = { for name, queue in aws_sqs_queue.dead_letter : name => queue.arn }
}
