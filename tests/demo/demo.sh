#!/usr/bin/env bash
# make demo / make demo-down: a local Docker cluster deployed by playbooks/site.yml.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=$PWD/.cache/collections ANSIBLE_CONFIG=$PWD/ansible.cfg
case "${1:-up}" in
  up)
    molecule create -s demo
    ansible-playbook -i inventories/local tests/demo/demo.yml
    ;;
  down)
    molecule destroy -s demo
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
