#!/usr/bin/env bash
# Benchmark 1: installing the Airflow lock on one node, this collection's uv path
# against plain pip with the same pins, in the same container, in the same run.
#   bash bench/install.sh        (prints a Markdown table; results go to docs/benchmarks.md)
# Each installer gets a fresh virtualenv and an empty cache ("cold"); uv is also
# timed again with its cache warm, as on a second node behind a shared cache or a rebuild.
# Last, the offline path: scripts/build-wheelhouse.sh builds the wheelhouse once, then the
# role's offline command (uv pip sync --offline --no-index --find-links) installs from it.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=roles/airflow_install/files/locks/airflow-3.3.2-py3.11.txt
image=${DATAOPS_NODE_IMAGE:-dataops-airflow-node:latest}
uv_version=$(sed -n 's/^uv==//p' requirements/dev.txt)
name=dataops-bench-install
docker rm -f "$name" >/dev/null 2>&1 || true
docker run -d --name "$name" -v "$PWD/$lock:/lock.txt:ro" \
  -v "$PWD/scripts/build-wheelhouse.sh:/build-wheelhouse.sh:ro" \
  -v /etc/ssl/certs/ca-certificates.crt:/ca.pem:ro "$image" sleep infinity >/dev/null
trap 'docker rm -f "$name" >/dev/null' EXIT
in_node() { docker exec -e SSL_CERT_FILE=/ca.pem -e PIP_CERT=/ca.pem -e UV_LINK_MODE=copy "$name" bash -c "$1"; }
timed() {
  local s; s=$(date +%s.%N)
  in_node "$1" >/dev/null 2>&1 || { echo "failed: $1" >&2; exit 1; }
  python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$s" "$(date +%s.%N)"; }
ratio() { python3 -c "import sys; print(float(sys.argv[1]) / float(sys.argv[2]))" "$1" "$2"; }

echo "preparing the node (build packages as python_packages installs them, uv $uv_version)" >&2
in_node "apt-get install -y -qq build-essential pkg-config libffi-dev libssl-dev python3-dev \
  python3-venv libpq-dev default-libmysqlclient-dev >/dev/null && python3 -m venv /opt/uv && \
  /opt/uv/bin/pip install -q uv==$uv_version"

uv_cold=$(timed "python3 -m venv --without-pip /opt/a1 && rm -rf /root/.cache/uv && \
  /opt/uv/bin/uv pip sync --python /opt/a1/bin/python --compile-bytecode /lock.txt")
uv_warm=$(timed "python3 -m venv --without-pip /opt/a2 && \
  /opt/uv/bin/uv pip sync --python /opt/a2/bin/python --compile-bytecode /lock.txt")
pip_cold=$(timed "python3 -m venv /opt/a3 && rm -rf /root/.cache/pip && \
  /opt/a3/bin/pip install -q --disable-pip-version-check --no-deps -r /lock.txt")
wheel_build=$(timed "bash /build-wheelhouse.sh /lock.txt /wheelhouse")
uv_wheelhouse=$(timed "python3 -m venv --without-pip /opt/a4 && rm -rf /root/.cache/uv && \
  /opt/uv/bin/uv pip sync --python /opt/a4/bin/python --compile-bytecode \
  --offline --no-index --find-links /wheelhouse /lock.txt")
packages=$(grep -c '==' "$lock")
wheels=$(in_node "find /wheelhouse -name '*.whl' | wc -l")
check=$(in_node "/opt/a1/bin/python -c 'import airflow; print(airflow.__version__)'")
in_node "/opt/a4/bin/python -c 'import airflow, MySQLdb, psycopg2'" >/dev/null

printf '| installer | time (s) | vs pip |\n| --- | --- | --- |\n'
printf '| pip, cold cache | %.1f | 1.0x |\n' "$pip_cold"
printf '| uv (this role), cold cache | %.1f | %.1fx faster |\n' "$uv_cold" "$(ratio "$pip_cold" "$uv_cold")"
printf '| uv (this role), warm cache | %.1f | %.1fx faster |\n' "$uv_warm" "$(ratio "$pip_cold" "$uv_warm")"
printf '| uv (this role) from a wheelhouse, offline, cold cache | %.1f | %.1fx faster |\n' \
  "$uv_wheelhouse" "$(ratio "$pip_cold" "$uv_wheelhouse")"
printf '| (building the wheelhouse once: scripts/build-wheelhouse.sh, %s wheels) | %.1f | |\n' \
  "$wheels" "$wheel_build"
echo
echo "$packages packages from $lock, Airflow $check importable; $(date -u +%F) on $(nproc) cores."
