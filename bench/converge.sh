#!/usr/bin/env bash
# Benchmarks 2 and 3 on molecule/default (1 master, 1 worker, services node):
#  2. cold converge: playbooks/site.yml from bare containers, then until every component
#     reports healthy, then until the smoke-test DAG, triggered on the master, succeeds;
#  3. the second site.yml run (must report changed=0).
#   bash bench/converge.sh [REF]   (prints a Markdown table; results go to docs/benchmarks.md)
# With REF (a commit, for example the previous release), that version is measured first, from a
# git worktree, then this checkout, in the same run, so the two columns compare like with like.
# Creating the containers and the PostgreSQL/Redis services node (the stand-ins for RDS and
# ElastiCache) is not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=$root/.venv/bin:$PATH NO_COLOR=1 ANSIBLE_FORCE_COLOR=0
work=$root/bench/.work/converge; mkdir -p "$work"
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
api() { docker exec af-master1 curl -s "$@"; }

# measure DIR LABEL: sets converge, healthy, dag, state, second, changed
measure() {
  local dir=$1 log=$work/$2
  mkdir -p "$log"
  (
    cd "$dir"
    export ANSIBLE_COLLECTIONS_PATH=$dir/.cache/collections
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
      -d '{"username":"admin","password":"molecule-admin-Pa55"}' \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
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
      state=$(api -H "Authorization: Bearer $token" \
        "http://localhost:8080/api/v2/dags/dataops_smoke/dagRuns/$run" \
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
    # Tasks that ran on a node (recap ok=, summed over master and worker); skipped ones cost
    # no round trip.
    tasks=$(grep -E '^af-(master|worker)1 .*ok=' "$log/converge2.log" \
      | sed -E 's/.*ok=([0-9]+).*/\1/' | awk '{s+=$1} END {print s}')
    echo "$converge $healthy $dag $state $second $changed $tasks" >"$log/result"
  )
  read -r converge healthy dag state second changed tasks <"$log/result"
}

labels=() results=()
if [ -n "${1:-}" ]; then
  ref=$(git rev-parse --short "$1")
  tree=$work/worktree-$ref
  [ -d "$tree" ] || git worktree add --detach --force "$tree" "$ref" >/dev/null
  mkdir -p "$tree/.cache/collections/ansible_collections/dataops"
  ln -sfn "$tree" "$tree/.cache/collections/ansible_collections/dataops/airflow"
  measure "$tree" "previous-$ref"
  labels+=("$ref"); results+=("$converge $healthy $dag $state $second $changed $tasks")
fi
measure "$root" current
labels+=("this checkout ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes'))")
results+=("$converge $healthy $dag $state $second $changed $tasks")

row() { # row TITLE FIELD
  local line="| $1 |" r
  for r in "${results[@]}"; do line+=" $(echo "$r" | cut -d' ' -f"$2") |"; done
  echo "$line"
}
header="| step (seconds) |"; rule="| --- |"
for l in "${labels[@]}"; do header+=" $l |"; rule+=" --- |"; done
echo "$header"; echo "$rule"
row "cold converge (site.yml, bare containers)" 1
row "... until every component reports healthy" 2
row "... until the smoke-test DAG run ends" 3
row "DAG run state" 4
row "second site.yml run" 5
row "changed tasks in the second run" 6
row "tasks run in the second run (ok=, master + worker)" 7
echo
echo "$(date -u +%F), $(nproc) cores; logs in $work/."
