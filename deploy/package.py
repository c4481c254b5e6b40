"""`make package`: build what an MWAA environment takes, in build/mwaa/.

    build/mwaa/
      dags/                       synced to s3://<bucket>/dags/ (MWAA copies only this to its workers)
        .airflowignore            every path below that is not a DAG file
        constraints.txt           what requirements.txt may install, pinned from requirements.lock
        sluice_repo/              the repository's layout, kept as it is:
          dags/sluice_dags.py       the DAG files,
          dags/pipelines/*.yml      the specs (dbt.project_dir: ../../dbt still resolves),
          dbt/                      the dbt project with target/manifest.json and the compiled
                                    plans in target/sluice/, so the DAG processor never plans
      plugins.zip                 sluice/ (the package), its .airflowignore (Airflow must not load sluice as
                                  plugins), sluice_plugin.py (the one plugin) and sluice_dbt/ (the dbt
                                  virtualenv's requirements, and with --wheels the wheels to install offline)
      requirements.txt            providers Airflow's process needs, with --constraint
      startup.sh                  builds the dbt virtualenv, sets SLUICE_ENV and SLUICE_DBT_EXECUTABLE

Why the repository's layout inside dags/: specs name their dbt project relative to themselves,
so nothing is rewritten and the compiled plans (keyed by the spec's bytes) stay valid. Every
artefact is byte-for-byte the same for the same sources, so a deploy uploads only what changed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from deploy.environments import ENVIRONMENTS_FILE, read_targets
from deploy.lockfile import Lock, normalize, read_lock
from sluice.errors import SluiceError
from sluice.settings import settings
from sluice.spec.paths import dbt_paths
from sluice.spec.reader import load_spec, spec_paths

REPO = Path(__file__).resolve().parents[1]
BUNDLE_REPO = "sluice_repo"
"""the folder of dags/ that holds the repository's dags/ and dbt/"""
MWAA_DAGS = "/usr/local/airflow/dags"
"""where MWAA puts the dags/ folder on every Airflow machine"""
DBT_VENV = ("dbt-core", "dbt-snowflake", "dbt-redshift")
"""what the MWAA dbt virtualenv holds: Snowflake or Redshift is the warehouse there"""
NOT_ON_MWAA = frozenset({"dbt-duckdb", "dbt-postgres", "duckdb", "asyncpg", "psycopg2-binary"})
"""local warehouse and metadata-database drivers: MWAA has its own database and runs no DuckDB"""
AIRFLOW_CORE = ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk")
"""preinstalled on MWAA; pinned in the constraints only so that pip can never replace them"""
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
"""MWAA's Airflow 3 images: Amazon Linux 2023 (glibc 2.34) on x86_64"""
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_DBT_SKIP = ("target", "logs", ".user.yml", "__pycache__")


def requirement_names(path: Path) -> list[str]:
    """The package names pinned in a requirements file (comments and options skipped)."""
    names = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(line.split("==", 1)[0].split("[", 1)[0].strip())
    return names


def mwaa_requirements(lock: Lock, requirements: Path) -> tuple[list[str], list[str]]:
    """(requirements.txt lines, constraints.txt lines) for Airflow's own environment on MWAA.

    requirements.txt lists what requirements.txt asks for minus what MWAA already has (Airflow and
    everything it needs), what goes into the dbt virtualenv, and local-only drivers. The
    constraints pin those packages and whatever only they need, at the lock's versions; Airflow's
    own dependencies are left to MWAA (pinning them could replace packages its Airflow was built
    with), and Airflow itself is pinned so that no provider can pull in another Airflow.
    """
    airflow = lock.closure(["apache-airflow"])
    skip = airflow | NOT_ON_MWAA | {normalize(n) for n in DBT_VENV}
    wanted = [n for n in map(normalize, requirement_names(requirements)) if n not in skip]
    constrained = (lock.closure(wanted) - airflow) | {n for n in AIRFLOW_CORE if n in lock.pins}
    return lock.pin_lines(wanted), lock.pin_lines(constrained)


def dbt_requirements(lock: Lock) -> list[str]:
    """Every package of the dbt virtualenv, pinned, so the same versions install online or offline."""
    return lock.pin_lines(lock.closure(DBT_VENV))


def airflowignore(dags: Path, dag_files: Iterable[Path]) -> list[str]:
    """Glob patterns (Airflow 3's default syntax) for everything under ``dags`` that is not a DAG
    file: a folder without DAG files is one line, so the DAG processor never walks the dbt project."""
    keep = {p.resolve() for p in dag_files}
    keep_dirs = {parent for p in keep for parent in p.parents}
    lines: list[str] = []

    def walk(folder: Path) -> None:
        for entry in sorted(folder.iterdir()):
            rel = entry.relative_to(dags).as_posix()
            if entry.name == ".airflowignore":
                continue
            if entry.is_dir():
                if entry.resolve() in keep_dirs:
                    walk(entry)
                else:
                    lines.append(f"/{rel}/")
            elif entry.resolve() not in keep:
                lines.append(f"/{rel}")

    walk(dags)
    return lines


def _copy_tree(src: Path, dst: Path, skip: Sequence[str]) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*skip, "*.pyc", "*.duckdb*", "*.lock"))


def _copy_repo(dags_out: Path) -> list[Path]:
    """The repository's dags/, dbt/ (sources and manifest only), airbyte_config/ (the sync tasks
    look connections up there) and event_streams/ (the load tasks read their stream and its JSON
    Schemas there) under dags/sluice_repo/."""
    root = dags_out / BUNDLE_REPO
    manifest = REPO / "dbt" / "target" / "manifest.json"
    if not manifest.is_file():
        raise SluiceError(f"{manifest}: not found; run make manifest first")
    _copy_tree(REPO / "dags", root / "dags", ["__pycache__"])
    _copy_tree(REPO / "dbt", root / "dbt", _DBT_SKIP)
    _copy_tree(REPO / "airbyte_config", root / "airbyte_config", ["state", "__pycache__"])
    _copy_tree(REPO / "event_streams", root / "event_streams", ["__pycache__"])
    (root / "dbt" / "target").mkdir()
    shutil.copy2(manifest, root / "dbt" / "target" / "manifest.json")
    return sorted((root / "dags").rglob("*.py"))


def _compile_plans(dags_out: Path) -> list[Path]:
    """Each spec's plan for every environment it declares, stored beside the bundled manifest."""
    if settings().plan_dir:
        raise SluiceError("SLUICE_PLAN_DIR is set: unset it, the plans must go inside the bundle")
    from sluice.plan.compiled import compile_plan

    written = []
    for path in spec_paths([dags_out / BUNDLE_REPO / "dags" / "pipelines"]):
        for env in load_spec(path).environments:
            sf = load_spec(path, env)
            project = dbt_paths(sf).project_dir
            if not project.is_relative_to(dags_out.resolve()):
                rel = path.relative_to(dags_out / BUNDLE_REPO)
                raise SluiceError(
                    f"{rel}: dbt.project_dir: {sf.spec.dbt.project_dir} is outside the repository's "
                    "dbt/ and would not reach MWAA; keep the project in dbt/"
                )
            written.append(compile_plan(sf)[1])
    return written


def _zip(out: Path, files: dict[str, Path]) -> None:
    """A zip whose bytes depend only on the files' names and contents (fixed times and modes)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name].read_bytes(), compresslevel=9)


def _plugin_files(dbt_dir: Path) -> dict[str, Path]:
    files = {name: REPO / "plugins" / name for name in (".airflowignore", "sluice_plugin.py")}
    for path in sorted((REPO / "plugins" / "sluice").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[path.relative_to(REPO / "plugins").as_posix()] = path
    for path in sorted(dbt_dir.rglob("*")):
        if path.is_file():
            files[f"sluice_dbt/{path.relative_to(dbt_dir).as_posix()}"] = path
    return files


def download_wheels(requirements: Path, into: Path, python_version: str) -> list[Path]:
    """The manylinux wheels of every dbt virtualenv package for MWAA's Python (needs the index)."""
    into.mkdir(parents=True, exist_ok=True)
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    argv += ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version]
    argv += [*platforms, "--dest", str(into), "-r", str(requirements)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SluiceError(f"pip download of the dbt wheels for Python {python_version} failed: {last}")
    return sorted(into.glob("*.whl"))


def startup_script(environments: Path) -> str:
    """deploy/startup.sh with the MWAA environment name → SLUICE_ENV table filled in."""
    template = (REPO / "deploy" / "startup.sh").read_text(encoding="utf-8")
    arms = [f"    {t.environment}) SLUICE_ENV={t.name} ;;" for t in read_targets(environments).values()]
    marker = "# @SLUICE_ENVIRONMENTS@"
    if marker not in template:
        raise SluiceError(f"deploy/startup.sh: the line {marker!r} is missing")
    return template.replace(marker, "\n".join(arms))


def build(
    out: Path,
    *,
    wheels: bool = False,
    python_version: str = "3.12",
    wheel_cache: Path | None = None,
    environments: Path = ENVIRONMENTS_FILE,
) -> Path:
    """Build the bundle into ``out`` (replaced whole); returns ``out``."""
    lock = read_lock(REPO / "requirements.lock")
    if out.exists():
        shutil.rmtree(out)
    dags_out = out / "dags"
    dags_out.mkdir(parents=True)
    dag_files = _copy_repo(dags_out)
    _compile_plans(dags_out)

    requirements, constraints = mwaa_requirements(lock, REPO / "requirements.txt")
    (dags_out / "constraints.txt").write_text(
        "# Generated by make package from requirements.lock: the packages requirements.txt installs on\n"
        "# MWAA and what only they need; Airflow pinned so pip never replaces the preinstalled one.\n"
        + "\n".join(constraints)
        + "\n"
    )
    (out / "requirements.txt").write_text(
        "# Generated by make package: what MWAA installs beside its preinstalled Airflow.\n"
        f'--constraint "{MWAA_DAGS}/constraints.txt"\n' + "\n".join(requirements) + "\n"
    )

    staging = out / ".plugins"
    dbt_dir = staging / "sluice_dbt"
    dbt_dir.mkdir(parents=True)
    (dbt_dir / "requirements.txt").write_text("\n".join(dbt_requirements(lock)) + "\n")
    if wheels:
        cache = wheel_cache or REPO / "build" / f"wheels-py{python_version}"
        for wheel in download_wheels(dbt_dir / "requirements.txt", cache, python_version):
            dest = dbt_dir / "wheels" / wheel.name
            dest.parent.mkdir(exist_ok=True)
            shutil.copy2(wheel, dest)
    _zip(out / "plugins.zip", _plugin_files(dbt_dir))
    shutil.rmtree(staging)

    startup = out / "startup.sh"
    startup.write_text(startup_script(environments))
    startup.chmod(0o755)
    (dags_out / ".airflowignore").write_text(
        "# Generated by make package: everything here that is not a DAG file.\n"
        + "\n".join(airflowignore(dags_out, dag_files))
        + "\n"
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.package", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "build" / "mwaa"), help="default: build/mwaa")
    parser.add_argument(
        "--wheels",
        action="store_true",
        help="ship the dbt virtualenv's manylinux wheels in plugins.zip (for SLUICE_OFFLINE_WHEELS=1)",
    )
    parser.add_argument("--python-version", default="3.12", help="MWAA's Python, for --wheels (3.12)")
    args = parser.parse_args(argv)
    try:
        out = build(Path(args.out), wheels=args.wheels, python_version=args.python_version)
    except SluiceError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    for name in ("dags", "plugins.zip", "requirements.txt", "startup.sh"):
        path = out / name
        size = (
            sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            if path.is_dir()
            else path.stat().st_size
        )
        print(f"{path}  {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
