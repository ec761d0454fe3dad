#!/usr/bin/env bash
# Builds the cluster scenario's node image as an operator bakes an AMI: the node image
# (build.sh) booted once, playbooks/bake_image.yml applied to it with the settings the
# scenarios use, and the result committed. The cluster's 8 Airflow nodes then boot with the
# install done, and its converge proves that site.yml finds it as wanted; the default and aws
# scenarios still install from bare hosts. The test DAGs are baked too: they are the tests'
# own files, which every scenario's converge otherwise ships to every node.
#
# The image tag carries a hash of everything that goes into it, so a second run finds the
# image and builds nothing. Set DATAOPS_CLUSTER_IMAGE to boot an image of your own instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

repo=dataops-airflow-node-baked
base=${DATAOPS_NODE_IMAGE:-dataops-airflow-node:latest}
# What the molecule configuration (.config/molecule/config.yml) gives these roles.
ca_bundle=/etc/ssl/certs/ca-certificates.crt

if [ -n "${DATAOPS_CLUSTER_IMAGE:-}" ]; then
  echo "cluster image: $DATAOPS_CLUSTER_IMAGE (DATAOPS_CLUSTER_IMAGE)"
  exit 0
fi

inputs_hash=$( {
  docker image inspect --format '{{.Id}}' "$base"
  cat "$ca_bundle"
  git ls-files -z -- tests/image/bake.sh playbooks/bake_image.yml roles/airflow_user \
      roles/python_packages roles/airflow_install plugins tests/dags \
    | sort -z | xargs -0 cat
} | sha256sum | cut -c1-12)
image="$repo:$inputs_hash"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "cluster image $image is up to date"
  docker tag "$image" "$repo:latest"
  exit 0
fi

started=$(date +%s)
container="dataops-airflow-bake-$$"
trap 'docker rm --force --volumes "$container" >/dev/null 2>&1 || true' EXIT
# The same container settings as the scenarios' platforms: systemd as PID 1, not privileged.
docker run --detach --name "$container" --cgroupns host --cap-add SYS_ADMIN \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --volume /sys/fs/cgroup:/sys/fs/cgroup:rw \
  "$base" /lib/systemd/systemd >/dev/null

for _ in $(seq 60); do
  state=$(docker exec "$container" systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) break ;; esac
  sleep 1
done
case "$state" in running|degraded) ;; *) echo "the bake container did not boot (systemd: $state)" >&2; exit 1 ;; esac

echo "baking $image from $base (playbooks/bake_image.yml)"
ANSIBLE_LOG_PATH=/var/tmp/dataops-bake.log ansible-playbook \
  --inventory "$container," --connection community.docker.docker \
  --extra-vars "python_packages_ca_bundle=$ca_bundle" \
  playbooks/bake_image.yml >/var/tmp/dataops-bake.out 2>&1 \
  || { tail -40 /var/tmp/dataops-bake.out; exit 1; }

dags=/var/lib/airflow/dags
for dag in tests/dags/*.py; do
  docker cp "$dag" "$container:$dags/"
done
docker exec "$container" sh -c "chown root:airflow $dags/*.py && chmod 0640 $dags/*.py \
  && rm -rf /root/.ansible /root/.cache /var/log/journal/* && : > /etc/machine-id"

docker commit --change 'CMD ["/lib/systemd/systemd"]' "$container" "$image" >/dev/null
docker tag "$image" "$repo:latest"
echo "built $image in $(( $(date +%s) - started )) s"
# Older bakes are of no further use.
docker images --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -v -e ":latest$" -e ":$inputs_hash$" \
  | xargs -r docker rmi >/dev/null 2>&1 || true
