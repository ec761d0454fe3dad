#!/usr/bin/env bash
# Benchmark of the cross-node config check (not a test): simulates 50, 100 and 200 nodes on
# this machine, times playbooks/validate_config.yml with 50 forks and writes the figures to
# docs/benchmarks.md. Extra arguments go to bench/config_hash.py (--sizes, --repeat, --no-doc).
# Scratch trees live in bench/.work/config_hash (about 55k small files for 200 hosts).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/ansible-playbook ] || bash scripts/setup.sh --no-docker
mkdir -p .cache/collections/ansible_collections/dataops
ln -sfn "$PWD" .cache/collections/ansible_collections/dataops/airflow
exec .venv/bin/python bench/config_hash.py "$@"
