#!/usr/bin/env bash
# Builds an offline wheelhouse for airflow_install_wheelhouse from a lock file:
#   scripts/build-wheelhouse.sh roles/airflow_install/files/locks/airflow-3.3.2-py3.11.txt wheelhouse/
# Run it where the OS, CPU architecture and Python version match the nodes (one node,
# or a container of the same image): packages without a wheel on the index, such as
# mysqlclient, are compiled here, once, instead of on every node.
# Honours PIP_INDEX_URL and PIP_CERT like any pip run.
set -euo pipefail
lock=${1:?usage: $0 LOCK_FILE OUTPUT_DIR}
out=${2:?usage: $0 LOCK_FILE OUTPUT_DIR}
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip wheel
mkdir -p "$out"
"$work/venv/bin/pip" wheel --disable-pip-version-check --no-deps --wheel-dir "$out" -r "$lock"
echo "$(find "$out" -name '*.whl' | wc -l) wheels in $out"
