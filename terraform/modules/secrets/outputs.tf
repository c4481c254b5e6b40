output "kms_key_arn" {
  description = "KMS key that encrypts the secret values."
  value       = aws_kms_key.secrets.arn
}

output "secret_arns" {
  description = "Secret ARN by name below the prefix."
  value       = { for name, secret in aws_secretsmanager_secret.this : name => secret.arn }
}

output "secret_names" {
  description = "Full secret name by name below the prefix (for aws secretsmanager put-secret-value)."
  value       = { for name, secret in aws_secretsmanager_secret.this : name => secret.name }
}
