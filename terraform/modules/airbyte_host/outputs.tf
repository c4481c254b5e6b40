output "instance_id" {
  description = "Instance id; the ansible inventory reaches the host by it through Session Manager."
  value       = aws_instance.host.id
}

output "private_ip" {
  description = "Private address; the Airbyte API is http://<private_ip>:<api_port>/api/public/v1."
  value       = aws_instance.host.private_ip
}

output "security_group_id" {
  description = "Security group of the host."
  value       = aws_security_group.host.id
}
