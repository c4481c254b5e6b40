"""The GitLab pipeline as GitLab would build it, per pipeline kind, through gitlab-ci-local.

gitlab-ci-local (pinned in tools/gitlab-ci-local, installed by make tools-infra) evaluates
rules, extends, anchors and needs the way GitLab does and lists the resulting jobs; these
tests assert which jobs a default-branch push and a merge request get, in what needs order,
and how the deploy jobs reach AWS. The file's schema is checked by make check-gitlab-ci.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.hcl import REPO

GCL = REPO / "tools" / "gitlab-ci-local" / "node_modules" / "gitlab-ci-local" / "dist" / "index.js"

DEFAULT_BRANCH: dict[str, str | None] = {
    "CI_PIPELINE_SOURCE": "push",
    "CI_COMMIT_BRANCH": "main",
    "CI_DEFAULT_BRANCH": "main",
}
MERGE_REQUEST: dict[str, str | None] = {
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_COMMIT_BRANCH": None,
    "CI_DEFAULT_BRANCH": "main",
    "CI_MERGE_REQUEST_IID": "7",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
}

LINT = {"ruff", "mypy", "sqlfluff", "yamllint"}
BUILD = {"dbt-parse", "package"}
PLANS = {"plan-dev-aws", "plan-dev-snowflake", "plan-prod-aws", "plan-prod-snowflake"}
APPLIES = {"apply-dev-aws", "apply-dev-snowflake", "apply-prod-aws", "apply-prod-snowflake"}
DEPLOYS = {"deploy-dev", "deploy-prod"}


def gitlab_ci_local(workdir: Path, variables: dict[str, str | None], *args: str) -> str:
    if shutil.which("node") is None or not GCL.exists():
        pytest.fail(f"gitlab-ci-local is not installed at {GCL}: run `make tools-infra`")
    command = ["node", str(GCL), *args, "--state-dir", ".gcl-state"]
    for name, value in variables.items():
        # None: the variable does not exist in that kind of pipeline (an MR has no CI_COMMIT_BRANCH)
        command += ["--unset-variable", name] if value is None else ["--variable", f"{name}={value}"]
    env = {**os.environ, "GCL_IGNORE_PREDEFINED_VARS": ",".join(variables), "NO_COLOR": "1"}
    done = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, f"gitlab-ci-local {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


_PROJECT: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _project(tmp_path_factory: pytest.TempPathFactory) -> None:
    _PROJECT.append(make_project(tmp_path_factory.mktemp("gitlab-project")))


def project_copy() -> Path:
    return _PROJECT[-1]


def make_project(workdir: Path) -> Path:
    """The CI file in a git repository of its own, as GitLab sees a project (origin, main)."""
    shutil.copy(REPO / ".gitlab-ci.yml", workdir / ".gitlab-ci.yml")
    git = ["git", "-C", str(workdir), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "git@gitlab.example.com:data/sluice.git"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "ci"], check=True)
    subprocess.run([*git, "update-ref", "refs/remotes/origin/main", "HEAD"], check=True)
    subprocess.run([*git, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"], check=True)
    return workdir


@cache
def pipeline(kind: str) -> dict[str, dict[str, Any]]:
    """Jobs GitLab would create (when: never left out), by name."""
    variables = DEFAULT_BRANCH if kind == "default" else MERGE_REQUEST
    listed = json.loads(gitlab_ci_local(project_copy(), variables, "--list-json"))
    return {job["name"]: job for job in listed if job["when"] != "never"}


@cache
def expanded(kind: str) -> dict[str, Any]:
    """The CI file with extends, anchors and defaults resolved (gitlab-ci-local --preview)."""
    variables = DEFAULT_BRANCH if kind == "default" else MERGE_REQUEST
    return dict(yaml.safe_load(gitlab_ci_local(project_copy(), variables, "--preview")))


def needs(kind: str, job: str) -> set[str]:
    return {need["job"] for need in pipeline(kind)[job]["needs"] or []}


def upstream(kind: str, job: str) -> set[str]:
    """Every job `job` waits for, directly or through other jobs' needs."""
    seen: set[str] = set()
    todo = [job]
    while todo:
        for need in needs(kind, todo.pop()):
            if need not in seen:
                seen.add(need)
                todo.append(need)
    return seen


def test_default_branch_pipeline_has_every_stage_and_both_environments() -> None:
    jobs = pipeline("default")
    assert set(jobs) == LINT | {"test"} | BUILD | {"pages"} | PLANS | APPLIES | DEPLOYS
    assert [jobs[name]["stage"] for name in ("ruff", "test", "package", "plan-dev-aws", "deploy-dev")] == [
        "lint",
        "test",
        "build",
        "plan",
        "deploy",
    ]


def test_merge_request_pipeline_tests_builds_and_plans_dev_but_deploys_nothing() -> None:
    assert set(pipeline("merge_request")) == LINT | {"test"} | BUILD | {"plan-dev-aws"}


@pytest.mark.parametrize("kind", ["default", "merge_request"])
def test_needs_order_lint_then_test_then_build(kind: str) -> None:
    for job in LINT:
        assert needs(kind, job) == set()
    assert needs(kind, "test") == LINT
    for job in BUILD:
        assert needs(kind, job) == {"test"}
    assert needs(kind, "plan-dev-aws") == {"test"}


@pytest.mark.parametrize("kind", ["default", "merge_request"])
def test_every_needed_job_exists_in_the_pipeline(kind: str) -> None:
    # gitlab-ci-local's own check, with every manual job started (a person at each gate)
    manual = [name for name, job in pipeline(kind).items() if job["when"] == "manual"]
    gitlab_ci_local(
        project_copy(),
        DEFAULT_BRANCH if kind == "default" else MERGE_REQUEST,
        "--validate-dependency-chain",
        *[arg for name in manual for arg in ("--manual", name)],
    )
    jobs = pipeline(kind)
    for name in jobs:
        assert needs(kind, name) <= set(jobs), name


def test_dev_deploys_on_its_own_after_the_tests_and_builds() -> None:
    assert pipeline("default")["deploy-dev"]["when"] == "on_success"
    assert needs("default", "deploy-dev") == BUILD
    assert {"test", *LINT} <= upstream("default", "deploy-dev")


def test_prod_waits_for_dev_and_a_person() -> None:
    jobs = pipeline("default")
    assert jobs["deploy-prod"]["when"] == "manual"
    assert not jobs["deploy-prod"]["allow_failure"]  # a blocking gate: the pipeline waits for it
    assert needs("default", "deploy-prod") == BUILD | {"deploy-dev"}
    for env in ("dev", "prod"):
        assert upstream("default", f"apply-{env}-aws") >= {f"plan-{env}-aws", "test"}
    assert "deploy-dev" in needs("default", "apply-prod-aws")


def test_terraform_apply_is_manual_and_applies_the_planned_file() -> None:
    jobs = pipeline("default")
    ci = expanded("default")
    for name in APPLIES:
        assert jobs[name]["when"] == "manual"
        plan = name.replace("apply-", "plan-")
        assert plan in needs("default", name)
        assert "plan.tfplan" in " ".join(ci[name]["script"])
    for name in PLANS:
        assert any("plan.tfplan" in path for path in ci[name]["artifacts"]["paths"])
        assert ci[name]["artifacts"]["access"] == "developer"


def test_dbt_manifest_is_an_artifact() -> None:
    ci = expanded("default")
    assert "make manifest" in ci["dbt-parse"]["script"]
    assert ci["dbt-parse"]["artifacts"]["paths"] == ["dbt/target/manifest.json"]


def test_dbt_docs_are_published_as_pages_from_the_default_branch_only() -> None:
    assert "pages" not in pipeline("merge_request")
    job = pipeline("default")["pages"]
    assert job["when"] == "on_success" and job["stage"] == "build"
    assert needs("default", "pages") == {"test"}
    ci = expanded("default")
    assert "make docs DOCS_DIR=public" in ci["pages"]["script"]
    # GitLab serves the public/ folder of the job named pages
    assert ci["pages"]["artifacts"]["paths"] == ["public"]


def _resolve(value: str, variables: dict[str, str]) -> str:
    for name, replacement in variables.items():
        value = value.replace(f"${name}", replacement)
    return value


def test_each_environment_deploys_one_job_at_a_time() -> None:
    ci = expanded("default")
    for name in APPLIES | DEPLOYS:
        job = ci[name]
        env = job["environment"]["name"]
        assert _resolve(job["resource_group"], job["variables"]) == env, name
        assert env == job["variables"]["ENV"]
        assert job.get("interruptible") is False, f"{name} could be cancelled half-way"


def test_aws_access_only_through_oidc_id_tokens() -> None:
    text = (REPO / ".gitlab-ci.yml").read_text()
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    ci = expanded("default")
    aws_jobs = [
        name
        for name, job in ci.items()
        if isinstance(job, dict) and "AWS_ROLE_ARN" in job.get("variables", {})
    ]
    assert set(aws_jobs) == PLANS | APPLIES | DEPLOYS
    for name in aws_jobs:
        job = ci[name]
        assert job["id_tokens"]["AWS_ID_TOKEN"]["aud"] == "sts.amazonaws.com", name
        script = job.get("before_script", []) + job["script"]
        assert '"$AWS_WEB_IDENTITY_TOKEN_FILE"' in " ".join(script), f"{name} never writes its ID token"


def test_merge_requests_plan_with_the_read_only_role() -> None:
    ci = expanded("merge_request")
    assert ci["plan-dev-aws"]["variables"]["AWS_ROLE_ARN"] == "$AWS_PLAN_ROLE_ARN_DEV"
    deploy_roles = {ci[name]["variables"]["AWS_ROLE_ARN"] for name in APPLIES | DEPLOYS}
    assert deploy_roles == {"$AWS_DEPLOY_ROLE_ARN_DEV", "$AWS_DEPLOY_ROLE_ARN_PROD"}


def test_deploy_jobs_apply_airbyte_then_call_make_deploy() -> None:
    ci = expanded("default")
    for env in ("dev", "prod"):
        script = ci[f"deploy-{env}"]["script"]
        airbyte = next(i for i, line in enumerate(script) if "sluice airbyte apply" in line)
        assert "sluice/$ENV/airbyte/apply" in script[airbyte]
        assert script.index("make deploy ENV=$ENV") > airbyte
    assert "make package" in ci["package"]["script"]
    assert "make test" in ci["test"]["script"]
