"""Print ``export NAME='value'`` lines for a Secrets Manager secret that holds a JSON object.

CI evaluates the output (``eval "$(python tools/secret_env.py sluice/dev/airbyte/apply)"``) so
the values reach the job's environment without appearing in its log. Credentials come from
the environment (the job's OIDC web identity); nothing is written to disk.
"""

from __future__ import annotations

import json
import re
import shlex
import sys

_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def exports(secret_string: str, secret_id: str) -> list[str]:
    try:
        values = json.loads(secret_string)
    except json.JSONDecodeError:
        raise SystemExit(f"{secret_id}: the secret is not a JSON object of NAME -> value") from None
    if not isinstance(values, dict):
        raise SystemExit(f"{secret_id}: the secret is not a JSON object of NAME -> value")
    lines = []
    for name, value in sorted(values.items()):
        if not _NAME.match(name) or not isinstance(value, str):
            raise SystemExit(f"{secret_id}: key {name!r} must be an UPPER_CASE name with a string value")
        lines.append(f"export {name}={shlex.quote(value)}")
    return lines


def main() -> int:
    if len(sys.argv) != 2:
        raise SystemExit("usage: secret_env.py SECRET_ID")
    import boto3  # type: ignore[import-untyped]  # in .venv through apache-airflow-providers-amazon

    secret_id = sys.argv[1]
    response = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    sys.stdout.write("\n".join(exports(response["SecretString"], secret_id)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
