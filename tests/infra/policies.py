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


def _dynamic(body: dict[str, Any], block: str) -> list[dict[str, Any]]:
    """The content of ``dynamic "<block>"`` entries of a resource body."""
    out = []
    for entry in body.get("dynamic", []):
        for name, spec in entry.items():
            if unquote(name) == block:
                out.extend(spec.get("content", []))
    return out


def _conditions(statement: dict[str, Any]) -> dict[str, str]:
    """variable -> test of a policy statement's conditions."""
    return {
        literal(c.get("variable")) or "": literal(c.get("test")) or "" for c in statement.get("condition", [])
    }


def queue_violations(module: Config) -> list[str]:
    """Every SQS queue is encrypted at rest and hands notifications it cannot deliver to a
    dead-letter queue (itself excepted); a queue policy lets a service send only for this
    account's own bucket (aws:SourceArn and aws:SourceAccount), never anyone else."""
    problems = []
    queues = module.find("aws_sqs_queue")
    dead = {f"aws_sqs_queue.{q.name}" for q in queues if "redrive_policy" not in q.body}
    for queue in queues:
        if queue.body.get("sqs_managed_sse_enabled") is not True and "kms_master_key_id" not in queue.body:
            problems.append(f"{queue.address}: not encrypted (sqs_managed_sse_enabled or kms_master_key_id)")
        redrive = str(queue.body.get("redrive_policy", ""))
        if queue.address not in dead and "deadLetterTargetArn" not in redrive:
            problems.append(f"{queue.address}: redrive_policy names no dead-letter queue")
    if queues and len(dead) == len(queues):
        problems.append(f"{module.folder}: no queue has a redrive_policy to a dead-letter queue")
    for policy in module.find("aws_sqs_queue_policy"):
        # one document per stream (for_each): data.aws_iam_policy_document.queue[each.key].json
        document = re.sub(r"\[[^\]]*\]", "", str(policy.body.get("policy")))
        for statement in _statements(module, document):
            services = [literal(i) for p in statement.get("principals", []) for i in p.get("identifiers", [])]
            conditions = _conditions(statement)
            if "*" in services:
                problems.append(f"{policy.address}: anyone may send (principal *)")
            elif services and not {"aws:SourceArn", "aws:SourceAccount"} <= set(conditions):
                problems.append(
                    f"{policy.address}: {', '.join(map(str, services))} may send for any bucket "
                    "(no aws:SourceArn and aws:SourceAccount conditions)"
                )
    return problems


def stream_wiring_violations(module: Config) -> list[str]:
    """Per stream: a lifecycle rule moving its prefix to STANDARD_IA then GLACIER after the
    stream's warm and cold days, and a notification of new files under its prefix to its own
    queue, saved only after the queue policies that let S3 send."""
    problems = []
    (lifecycle,) = module.find("aws_s3_bucket_lifecycle_configuration") or [None]
    rules = _dynamic(lifecycle.body, "rule") if lifecycle else []
    if len(rules) != 1:
        problems.append(
            f"{module.folder}: expected one dynamic lifecycle rule per stream, found {len(rules)}"
        )
    for rule in rules:
        steps = [(t.get("days"), literal(t.get("storage_class"))) for t in rule.get("transition", [])]
        if steps != [
            ("${rule.value.warm_after_days}", "STANDARD_IA"),
            ("${rule.value.cold_after_days}", "GLACIER"),
        ]:
            problems.append(
                f"lifecycle rule transitions {steps}, expected STANDARD_IA after warm, GLACIER after cold"
            )
        if [f.get("prefix") for f in rule.get("filter", [])] != ["${rule.value.prefix}"]:
            problems.append("lifecycle rule does not filter on the stream's prefix")
    (notification,) = module.find("aws_s3_bucket_notification") or [None]
    queues = _dynamic(notification.body, "queue") if notification else []
    if len(queues) != 1:
        problems.append(
            f"{module.folder}: expected one dynamic queue notification per stream, found {len(queues)}"
        )
    for queue in queues:
        if queue.get("filter_prefix") != "${queue.value.prefix}" or "[queue.key]" not in str(
            queue.get("queue_arn")
        ):
            problems.append("notification does not send each stream's prefix to the stream's own queue")
        if [literal(e) for e in queue.get("events", [])] != ["s3:ObjectCreated:*"]:
            problems.append(f"notification events {queue.get('events')}, expected s3:ObjectCreated:*")
    if notification and "${aws_sqs_queue_policy.stream}" not in notification.body.get("depends_on", []):
        problems.append("notification is not saved after the queue policies (depends_on)")
    return problems


def redshift_violations(module: Config) -> list[str]:
    """Redshift keeps its admin password itself (manage_admin_password, in Secrets Manager): no
    password attribute, so none reaches state, and no output names one; workgroups are private,
    route COPY through the VPC and require TLS."""
    problems = []
    for ns in module.find("aws_redshiftserverless_namespace"):
        if ns.body.get("manage_admin_password") is not True:
            problems.append(f"{ns.address}: manage_admin_password is not true")
        for attr in ("admin_user_password", "admin_user_password_wo"):
            if attr in ns.body:
                problems.append(f"{ns.address}: sets {attr}, which terraform keeps in state")
    for wg in module.find("aws_redshiftserverless_workgroup"):
        if wg.body.get("publicly_accessible") is not False:
            problems.append(f"{wg.address}: publicly_accessible is not false")
        if wg.body.get("enhanced_vpc_routing") is not True:
            problems.append(f"{wg.address}: enhanced_vpc_routing is not true")
        params = {
            literal(p.get("parameter_key")): literal(p.get("parameter_value"))
            for p in wg.body.get("config_parameter", [])
        }
        if params.get("require_ssl") != "true":
            problems.append(f"{wg.address}: require_ssl is not true")
    return problems + password_output_violations(module)


def password_output_violations(config: Config) -> list[str]:
    """No output of a module or env hands out a password (where one is kept, its ARN, is fine)."""
    problems = []
    for doc in config.files.values():
        for block in doc.get("output", []):
            for name, body in block.items():
                value = str(body.get("value", ""))
                if (
                    re.search(r"password(?!_secret_arn)", value, re.IGNORECASE)
                    or body.get("sensitive") is True
                ):
                    problems.append(f"{config.folder}: output {unquote(name)} hands out {value}")
    return problems


def role_action_violations(module: Config, role: str) -> list[str]:
    """Every policy on ``role`` (``aws_iam_role.<name>``) names its actions: no "*", no "service:*"."""
    problems = []
    policies = [p for p in module.find("aws_iam_role_policy") if p.body.get("role") == f"${{{role}.id}}"]
    if not policies:
        problems.append(f"{module.folder}: no policy on {role}")
    for policy in policies:
        for statement in _statements(module, policy.body.get("policy")):
            for action in statement.get("actions", []):
                text = literal(action)
                if text is None or text == "*" or text.endswith(":*"):
                    problems.append(f"{policy.address}: action {action} is a wildcard or not a literal")
    return problems
