# The self-hosted Airbyte host: one EC2 instance that ansible turns into an abctl install.

data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"] # Canonical

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]
  }
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "host" {
  name               = "${var.name}-airbyte-host"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

# Session Manager is how operators and ansible reach the host, instead of an open SSH port.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.host.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "host" {
  name = "${var.name}-airbyte-host"
  role = aws_iam_role.host.name
  tags = var.tags
}

resource "aws_security_group" "host" {
  name        = "${var.name}-airbyte"
  description = "Airbyte host ${var.name}: API from MWAA and CI, HTTPS out"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "api_from_groups" {
  for_each                     = toset(var.api_client_security_group_ids)
  security_group_id            = aws_security_group.host.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = var.api_port
  to_port                      = var.api_port
  description                  = "Airbyte API"
}

resource "aws_vpc_security_group_ingress_rule" "api_from_cidrs" {
  for_each          = toset(var.api_client_cidr_blocks)
  security_group_id = aws_security_group.host.id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
  description       = "Airbyte API"
}

resource "aws_vpc_security_group_egress_rule" "out" {
  for_each          = toset([for port in var.egress_ports : tostring(port)])
  security_group_id = aws_security_group.host.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
  description       = "Outbound TCP ${each.value}"
}

resource "aws_instance" "host" {
  ami                         = data.aws_ami.ubuntu.id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = [aws_security_group.host.id]
  iam_instance_profile        = aws_iam_instance_profile.host.name
  key_name                    = var.ssh_key_name
  associate_public_ip_address = false
  ebs_optimized               = true
  monitoring                  = true

  # IMDSv2 only (session tokens, no SSRF-readable v1). Hop limit 2: abctl runs Airbyte's pods
  # inside a kind node, itself a Docker container, so a pod's request to 169.254.169.254
  # crosses one more network hop than a process on the host. With the default limit of 1 the
  # token response is dropped before it reaches the pod, and connectors that use the
  # instance role (S3 destinations, log storage) fail to get credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_gb
    encrypted             = true
    delete_on_termination = true
  }

  tags = merge(var.tags, { Name = "${var.name}-airbyte" })

  # A newer Ubuntu image must not replace a running Airbyte host; rebuild it on purpose.
  lifecycle {
    ignore_changes = [ami]
  }
}
