"""The Airbyte host role: what it renders, what it guards, and where its secrets come from.

ansible-lint (production profile) and --syntax-check run in make check-infra; these tests
check what those tools do not know: the rendered values file, the install guard, and that
each inventory reads a secret terraform actually creates.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tests.infra.hcl import REPO, TERRAFORM, Config, unquote

ANSIBLE = REPO / "ansible"
ROLE = ANSIBLE / "roles" / "airbyte"


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def tasks() -> list[dict[str, Any]]:
    return list(read_yaml(ROLE / "tasks" / "main.yml"))


def task(module: str, needle: str = "") -> dict[str, Any]:
    found = [t for t in tasks() if module in t and needle in str(t[module])]
    assert len(found) == 1, f"expected one {module} task with {needle!r}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_values_file_renders_to_the_helm_values_abctl_expects(env: str) -> None:
    defaults = read_yaml(ROLE / "defaults" / "main.yml")
    inventory = read_yaml(ANSIBLE / "inventories" / env / "group_vars" / "airbyte.yml")
    facts = {"ansible_managed": "managed by ansible", "ansible_default_ipv4": {"address": "10.0.1.23"}}
    context = {**defaults, **inventory, **facts}
    jinja = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    # airbyte_host defaults to a fact ({{ ansible_default_ipv4.address }}): resolve it first
    context["airbyte_host"] = jinja.from_string(context["airbyte_host"]).render(context)
    template = jinja.from_string((ROLE / "templates" / "values.yaml.j2").read_text())
    values = yaml.safe_load(template.render(context))
    assert values["global"]["airbyteUrl"] == "http://10.0.1.23:8000"
    assert values["global"]["auth"]["enabled"] is True
    assert values["worker"]["maxSyncWorkers"] == inventory["airbyte_max_sync_workers"]
    assert values["global"]["jobs"]["resources"]["limits"]["memory"] == defaults["airbyte_job_memory_limit"]


def test_airbyte_install_is_guarded_by_abctl_status() -> None:
    status = task("ansible.builtin.command", "abctl local status")
    assert status["changed_when"] is False and status["failed_when"] is False
    install = task("ansible.builtin.command", "abctl local install")
    guard = install["when"]
    assert status["register"] in guard  # installs only when status says there is none
    assert "'deployed' not in" in guard
    values = task("ansible.builtin.template", "values.yaml.j2")
    assert f"{values['register']}.changed" in guard  # or when the rendered values changed
    assert "--values" in install["ansible.builtin.command"]


def test_abctl_is_pinned_by_version_and_checksum() -> None:
    defaults = read_yaml(ROLE / "defaults" / "main.yml")
    assert re.fullmatch(r"v\d+\.\d+\.\d+", defaults["airbyte_abctl_version"])
    download = task("ansible.builtin.get_url", "abctl")
    assert download["ansible.builtin.get_url"]["checksum"] == "sha256:{{ airbyte_abctl_sha256 }}"
    check = task("ansible.builtin.assert", "airbyte_abctl_sha256")
    assert tasks().index(check) < tasks().index(download)


def test_admin_login_comes_from_secrets_manager_and_never_reaches_the_log() -> None:
    lookup = task("ansible.builtin.set_fact", "secretsmanager_secret")
    assert "amazon.aws.secretsmanager_secret" in str(lookup["ansible.builtin.set_fact"])
    assert lookup["no_log"] is True
    for t in tasks():
        if "airbyte_admin" in str(t.get("ansible.builtin.command", "")) or "credentials" in str(t):
            assert t.get("no_log") is True, t["name"]


def terraform_secret_names(env: str) -> set[str]:
    (call,) = [
        body
        for doc in Config(TERRAFORM / "envs" / env / "aws").files.values()
        for entry in doc.get("module", [])
        for name, body in entry.items()
        if unquote(name) == "secrets"
    ]
    prefix = f"sluice/{env}"
    secrets = call["secrets"]
    if isinstance(secrets, str):  # merge({...}, optional ones): the keys of its map literals
        return {f"{prefix}/{key}" for key in re.findall(r'"([\w/.-]+)"\s*=', secrets)}
    return {f"{prefix}/{unquote(key)}" for key in secrets}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_inventory_reads_a_secret_terraform_creates(env: str) -> None:
    hosts = read_yaml(ANSIBLE / "inventories" / env / "hosts.yml")
    assert len(hosts["airbyte"]["hosts"]) == 1
    group_vars = read_yaml(ANSIBLE / "inventories" / env / "group_vars" / "airbyte.yml")
    assert group_vars["sluice_env"] == env
    assert group_vars["airbyte_admin_secret"] in terraform_secret_names(env)
