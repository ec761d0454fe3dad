#!/usr/bin/env bash
# Builds the Debian 12 node image the Docker test cluster boots: systemd as PID 1,
# python3 and sshd, like a bare EC2 host. There is no registry to pull from, so the
# root file system comes from debootstrap and is imported with `docker import`.
#
# The image tag carries a hash of this recipe, so a second run finds the image and
# builds nothing. Set DATAOPS_NODE_IMAGE to use an image of your own instead (for
# example one pulled from a registry); it must boot /lib/systemd/systemd.
#
# The .deb files of the packages the roles and the services node install are
# downloaded into the image's apt cache (not installed): the roles still install
# them for real, they only skip the download, like a host behind an apt cache.
set -euo pipefail

suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base_packages=(systemd systemd-sysv dbus python3 python3-apt sudo openssh-server
  ca-certificates iproute2 procps curl tzdata locales)
# What the python_packages role (Debian vars) and the services node install.
cached_packages=(gcc libc6-dev pkg-config libffi-dev libssl-dev python3-dev python3-venv
  python3-pip libpq-dev default-libmysqlclient-dev postgresql-15 redis-server python3-psycopg2)

recipe_hash=$( { cat "$0"; echo "${base_packages[*]}" "${cached_packages[*]}" "$suite"; } \
  | sha256sum | cut -c1-12)
image_repo=dataops-airflow-node
image="${image_repo}:${suite}-${recipe_hash}"

if [ "${1:-}" = "--name" ]; then echo "$image"; exit 0; fi

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "node image $image is up to date"
else
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
  rootfs=$(mktemp -d /var/tmp/dataops-rootfs.XXXXXX)
  trap 'umount -l "$rootfs/proc" 2>/dev/null || true; rm -rf "$rootfs"' EXIT
  echo "building $image with debootstrap (about 2 minutes)"
  debootstrap --variant=minbase --include="$(IFS=,; echo "${base_packages[*]}")" \
    "$suite" "$rootfs" "$mirror" >/var/tmp/dataops-debootstrap.log 2>&1 \
    || { tail -30 /var/tmp/dataops-debootstrap.log; exit 1; }
  cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES
  mount -t proc proc "$rootfs/proc"
  chroot "$rootfs" apt-get update -qq
  chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only \
    "${cached_packages[@]}" >/dev/null
  umount -l "$rootfs/proc"
  # A container has no consoles or hardware: mask the units that wait for them.
  for unit in getty@tty1.service serial-getty@console.service systemd-udevd.service \
      systemd-udev-trigger.service systemd-remount-fs.service sys-kernel-debug.mount \
      sys-kernel-tracing.mount dev-hugepages.mount systemd-firstboot.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  echo "en_US.UTF-8 UTF-8" > "$rootfs/etc/locale.gen"
  chroot "$rootfs" locale-gen >/dev/null
  : > "$rootfs/etc/machine-id"
  # Every container gets host keys of its own, made when sshd first starts.
  rm -f "$rootfs"/etc/ssh/ssh_host_*
  mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
  printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
    > "$rootfs/etc/systemd/system/ssh.service.d/host-keys.conf"
  tar -C "$rootfs" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' - "$image" >/dev/null
  echo "built $image"
  # Older builds of the recipe are of no further use.
  docker images --format '{{.Repository}}:{{.Tag}}' "$image_repo" | grep -v -e ":latest$" -e ":${suite}-${recipe_hash}$" \
    | xargs -r docker rmi >/dev/null 2>&1 || true
fi
docker tag "$image" "${image_repo}:latest"
