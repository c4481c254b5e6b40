#!/usr/bin/env bash
# MWAA startup script for sluice (built by `make package` from deploy/startup.sh).
#
# MWAA runs it on every Airflow component before Airflow starts, and gives it 5 minutes. It
#   1. sets SLUICE_ENV from the MWAA environment's name (the table below, from
#      deploy/environments.yml), so the specs' dev/prod overrides apply;
#   2. puts dbt in a virtualenv of its own (Airflow's own packages stay as MWAA built them) and
#      exports SLUICE_DBT_EXECUTABLE, which sluice's dbt tasks and warm dbt worker run on.
# With SLUICE_OFFLINE_WHEELS=1 pip reads only the wheels shipped in plugins.zip (no network);
# otherwise it installs the same pinned versions from the package index.
# Written to be sourced (MWAA keeps the variables it exports): no `set -e`, no `exit` on success.

sluice_home="${AIRFLOW_HOME:-/usr/local/airflow}"

if [ -z "${SLUICE_ENV:-}" ]; then
  case "${AIRFLOW_ENV_NAME:-}" in
# @SLUICE_ENVIRONMENTS@
    *) echo "sluice startup: MWAA environment '${AIRFLOW_ENV_NAME:-}' is not in deploy/environments.yml; SLUICE_ENV stays unset" >&2 ;;
  esac
fi
[ -n "${SLUICE_ENV:-}" ] && export SLUICE_ENV

SLUICE_DBT_VENV="${SLUICE_DBT_VENV:-${sluice_home}/sluice-dbt-venv}"
export SLUICE_DBT_EXECUTABLE="${SLUICE_DBT_VENV}/bin/dbt"

sluice_install_dbt() {
  local dbt_dir="${sluice_home}/plugins/sluice_dbt"
  local requirements="${dbt_dir}/requirements.txt"
  local stamp="${SLUICE_DBT_VENV}/.sluice-requirements"
  local started=${SECONDS}
  if [ ! -f "${requirements}" ]; then
    echo "sluice startup: ${requirements} not found; is plugins.zip from make package installed?" >&2
    return 1
  fi
  if [ -x "${SLUICE_DBT_EXECUTABLE}" ] && cmp -s "${requirements}" "${stamp}"; then
    echo "sluice startup: dbt virtualenv ${SLUICE_DBT_VENV} is current"
    return 0
  fi
  local index_args=()  # online: the index pip is configured with
  if [ "${SLUICE_OFFLINE_WHEELS:-0}" = "1" ]; then
    index_args=(--no-index --find-links "${dbt_dir}/wheels")
  fi
  rm -rf "${SLUICE_DBT_VENV}"
  # MWAA sets PIP_USER=true for its own installs; inside a virtualenv that is an error
  PIP_USER=0 python3 -m venv "${SLUICE_DBT_VENV}" || return 1
  PIP_USER=0 PIP_DISABLE_PIP_VERSION_CHECK=1 "${SLUICE_DBT_VENV}/bin/python" -m pip install \
    --quiet --no-cache-dir --only-binary=:all: "${index_args[@]}" -r "${requirements}" || return 1
  cp "${requirements}" "${stamp}"
  echo "sluice startup: dbt installed in ${SLUICE_DBT_VENV} in $((SECONDS - started)) s"
}

case "${MWAA_AIRFLOW_COMPONENT:-worker}" in
  webserver | api-server) ;;  # runs no task, needs no dbt
  *)
    if ! sluice_install_dbt; then
      echo "sluice startup: could not build the dbt virtualenv ${SLUICE_DBT_VENV}" >&2
      return 1 2>/dev/null || exit 1
    fi
    ;;
esac
