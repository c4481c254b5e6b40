"""Policy checks over terraform configuration; each returns the violations it finds.

test_terraform_policy.py runs them on the repository's configuration (must be clean) and on
small broken configurations (must each be caught), so a check that cannot fail is noticed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.infra.hcl import Config, literal, load, reference, unquote

# attribute names that hold a credential when given a value
SECRET_NAME = re.compile(r"(password|passphrase|secret|private_key|token|access_key|api_key)", re.IGNORECASE)
# names that look secret but hold none: where a secret lives, public halves, IMDS settings
NOT_SECRET_NAME = re.compile(
    r"(public_key|_arn$|_id$|_name$|_names$|_prefix$|token_file|^secrets$|^http_tokens$)",
    re.IGNORECASE,
)
PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def backend_violations(env: Config) -> list[str]:
    """An env keeps its state in S3, encrypted, with S3's native lock file."""
    backends = [b for t in env.terraform_blocks() for b in t.get("backend", [])]
    if len(backends) != 1:
        return [f"{env.folder}: {len(backends)} backend blocks, expected one s3 backend"]
    ((btype, body),) = backends[0].items()
    problems = []
    if unquote(btype) != "s3":
        problems.append(f"{env.folder}: backend {unquote(btype)!r}, expected s3")
    if body.get("use_lockfile") is not True:
        problems.append(f"{env.folder}: backend s3 without use_lockfile = true")
    if body.get("encrypt") is not True:
        problems.append(f"{env.folder}: backend s3 without encrypt = true")
    if "dynamodb_table" in body:
        problems.append(f"{env.folder}: backend s3 still locks through DynamoDB (dynamodb_table)")
    return problems


def backend_key(env: Config) -> str | None:
    for t in env.terraform_blocks():
        for backend in t.get("backend", []):
            for body in backend.values():
                return literal(body.get("key"))
    return None


def _bucket_companions(module: Config, rtype: str, bucket: str) -> list[dict[str, Any]]:
    return [b.body for b in module.find(rtype) if b.body.get("bucket") == f"${{{bucket}.id}}"]


def mwaa_bucket_violations(module: Config) -> list[str]:
    """The bucket MWAA reads from is versioned and blocks every kind of public access."""
    envs = module.find("aws_mwaa_environment")
    if not envs:
        return [f"{module.folder}: no aws_mwaa_environment"]
    problems = []
    for env in envs:
        bucket = reference(env.body.get("source_bucket_arn"), "arn")
        versioning = _bucket_companions(module, "aws_s3_bucket_versioning", bucket)
        statuses = [
            literal(c.get("status")) for v in versioning for c in v.get("versioning_configuration", [])
        ]
        if statuses != ["Enabled"]:
            problems.append(f"{env.address}: source bucket {bucket} is not versioned (status {statuses})")
        blocks = _bucket_companions(module, "aws_s3_bucket_public_access_block", bucket)
        flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        if len(blocks) != 1 or any(blocks[0].get(flag) is not True for flag in flags):
            problems.append(f"{env.address}: source bucket {bucket} does not block all public access")
    return problems


def _statements(module: Config, policy_expression: Any) -> list[dict[str, Any]]:
    document = module.get(reference(policy_expression, "json"))
    return list(document.body.get("statement", []))


def execution_role_violations(module: Config) -> list[str]:
    """Every policy on the MWAA execution role names its actions: no "*", no "service:*"."""
    problems = []
    for env in module.find("aws_mwaa_environment"):
        role = reference(env.body.get("execution_role_arn"), "arn")
        policies = [p for p in module.find("aws_iam_role_policy") if p.body.get("role") == f"${{{role}.id}}"]
        attachments = [
            p for p in module.find("aws_iam_role_policy_attachment") if role in str(p.body.get("role"))
        ]
        if attachments:
            problems.append(
                f"{env.address}: managed policies attached to {role}; only its own policy may grant"
            )
        if not policies:
            problems.append(f"{env.address}: no policy on execution role {role}")
        for policy in policies:
            for statement in _statements(module, policy.body.get("policy")):
                if "not_actions" in statement:
                    problems.append(f"{policy.address}: NotAction grants everything else")
                for action in statement.get("actions", []):
                    text = literal(action)
                    if text is None or text == "*" or text.endswith(":*"):
                        problems.append(f"{policy.address}: action {action} is a wildcard or not a literal")
    return problems


def _walk(node: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _walk(value, f"{path}.{unquote(key)}")]
    if isinstance(node, list):
        return [pair for i, value in enumerate(node) for pair in _walk(value, f"{path}[{i}]")]
    return [(path, node)]


def secret_literal_violations(path: Path) -> list[str]:
    """No credential written as a literal in a .tf or .tfvars file, and no secret version resource."""
    problems = []
    if PEM_PRIVATE.search(path.read_text()):
        problems.append(f"{path}: contains a PEM private key")
    doc = load(path)
    for where, value in _walk(doc, ""):
        name = where.rsplit(".", 1)[-1].split("[")[0]
        text = literal(value)
        if text and SECRET_NAME.search(name) and not NOT_SECRET_NAME.search(name):
            problems.append(f"{path}: {where.lstrip('.')} is a literal credential")
    for entry in doc.get("resource", []):
        for rtype in entry:
            if unquote(rtype) == "aws_secretsmanager_secret_version":
                problems.append(f"{path}: {unquote(rtype)} would put a secret value into the state")
    return problems
