#!/usr/bin/env bash
# Benchmarks 2 and 3 on molecule/default (1 master, 1 worker, services node):
#  2. cold converge: playbooks/site.yml from bare containers, then until every component
#     reports healthy, then until the smoke-test DAG, triggered on the master, succeeds;
#  3. the second site.yml run (must report changed=0).
#   bash bench/converge.sh       (prints a Markdown table; results go to docs/benchmarks.md)
# Creating the containers and the PostgreSQL/Redis services node (the stand-ins for RDS and
# ElastiCache) is not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=$PWD/.cache/collections NO_COLOR=1
log=bench/.work/converge; mkdir -p "$log"
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
api() { docker exec af-master1 curl -s "$@"; }

molecule destroy >"$log/destroy.log" 2>&1
molecule create >"$log/create.log" 2>&1
molecule prepare >"$log/prepare.log" 2>&1
trap 'molecule destroy >"$log/destroy.log" 2>&1' EXIT

start=$(now)
molecule converge >"$log/converge1.log" 2>&1
converge=$(since "$start")
for _ in $(seq 120); do
  api http://localhost:8080/api/v2/monitor/health | grep -q '"dag_processor":{"status":"healthy"' \
    && api http://localhost:8080/api/v2/monitor/health | grep -vq unhealthy && break
  sleep 1
done
healthy=$(since "$start")
token=$(api -X POST http://localhost:8080/auth/token -H 'Content-Type: application/json' \
  -d '{"username":"admin","password":"molecule-admin-Pa55"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
for _ in $(seq 120); do
  [ "$(api -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    http://localhost:8080/api/v2/dags/dataops_smoke)" = 200 ] && break
  sleep 1
done
run=$(api -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"logical_date": null}' http://localhost:8080/api/v2/dags/dataops_smoke/dagRuns \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["dag_run_id"])')
state=queued
for _ in $(seq 300); do
  state=$(api -H "Authorization: Bearer $token" "http://localhost:8080/api/v2/dags/dataops_smoke/dagRuns/$run" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
  case "$state" in success|failed) break ;; esac
  sleep 1
done
dag=$(since "$start")

start=$(now)
molecule converge >"$log/converge2.log" 2>&1
second=$(since "$start")
changed=$(grep -E '^af-(master|worker)1 .*changed=' "$log/converge2.log" \
  | sed -E 's/.*changed=([0-9]+).*/\1/' | awk '{s+=$1} END {print s}')

printf '| step | seconds |\n| --- | --- |\n'
printf '| cold converge (site.yml, bare containers) | %s |\n' "$converge"
printf '| ... until every component reports healthy | %s |\n' "$healthy"
printf '| ... until the smoke-test DAG run is %s | %s |\n' "$state" "$dag"
printf '| second site.yml run (changed=%s) | %s |\n' "$changed" "$second"
echo
echo "$(date -u +%F), $(nproc) cores; logs in $log/."
