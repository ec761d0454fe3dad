#!/usr/bin/env bash
# The second site.yml run (changed=0) over SSH to the moto instances' private addresses, beside
# the same run over `docker exec`, on the same converged nodes of molecule/aws, alternating:
#   bash bench/ssh_vs_docker.sh [ROUNDS]      (default 3; prints a Markdown table)
# It creates, prepares and converges the scenario itself, and destroys it at the end. Both runs
# use the shipped inventory (inventories/aws/airflow.aws_ec2.yml) and the scenario's group_vars;
# the docker one only sets ansible_connection=community.docker.docker, ansible_host to the
# container and ansible_user=root.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-3}
export PATH=$root/.venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=$root/.cache/collections NO_COLOR=1 ANSIBLE_FORCE_COLOR=0
work=$root/bench/.work/ssh_vs_docker; mkdir -p "$work"

molecule destroy -s aws >"$work/destroy.log" 2>&1
trap 'molecule destroy -s aws >"$work/destroy.log" 2>&1' EXIT
molecule converge -s aws >"$work/converge.log" 2>&1

ephemeral=$(find "$HOME/.ansible/tmp" -maxdepth 1 -name "molecule.*.aws" | head -1)
export MOLECULE_EPHEMERAL_DIRECTORY=$ephemeral MOLECULE_PROJECT_DIRECTORY=$root ANSIBLE_CONFIG=$ephemeral/ansible.cfg
export AWS_URL=http://172.30.42.1:5042 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=eu-west-1 DATAOPS_AIRFLOW_CLUSTER=airflow-molecule

# run LABEL [EXTRA ARGS]: prints the seconds of one second run; fails unless changed=0
run() {
  local label=$1; shift
  local log=$work/$label.log start end
  start=$(date +%s.%N)
  ansible-playbook -i inventories/aws/airflow.aws_ec2.yml -i molecule/aws/inventory "$@" \
    molecule/resources/deploy.yml >"$log" 2>&1
  end=$(date +%s.%N)
  if grep -E ' : ok=' "$log" | grep -vq ' changed=0 '; then
    echo "$label changed something: $log" >&2; exit 1
  fi
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$end"
}

ssh_times=() docker_times=()
for round in $(seq "$rounds"); do
  ssh_times+=("$(run "ssh-$round")")
  docker_times+=("$(run "docker-$round" -e ansible_connection=community.docker.docker \
    -e 'ansible_host={{ inventory_hostname }}' -e ansible_user=root)")
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| second run, changed=0 (1 master + 1 worker), s | runs | median |"
echo "| --- | --- | --- |"
echo "| SSH to the private addresses, as admin with sudo | ${ssh_times[*]} | $(median "${ssh_times[@]}") |"
echo "| docker exec, as root | ${docker_times[*]} | $(median "${docker_times[@]}") |"
