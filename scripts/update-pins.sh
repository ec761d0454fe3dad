#!/usr/bin/env bash
# Regenerates every pin the project ships, with uv:
#   requirements/dev.txt                                 the controller's test tools
#   meta/ee-requirements.txt                             the execution environment's Python
#   roles/airflow_install/files/locks/airflow-V-pyX.txt  one lock per Airflow x Python
# Airflow's own constraint files live on GitHub; these locks replace them and are
# what makes every node install the identical package set.
#   scripts/update-pins.sh            all pins
#   scripts/update-pins.sh --upgrade  also move to the newest allowed versions
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-$(command -v uv || echo .venv/bin/uv)}
upgrade=()
[ "${1:-}" = "--upgrade" ] && upgrade=(--upgrade)
# Python versions the supported OSes build the virtualenv with:
# 3.10 Ubuntu 22.04, 3.11 Debian 12 / Amazon Linux 2023, 3.12 Ubuntu 24.04 / RHEL 9.
pythons=(3.10 3.11 3.12)

"$uv" pip compile --quiet "${upgrade[@]}" --python-version 3.11 --universal \
  --custom-compile-command "scripts/update-pins.sh" requirements/dev.in -o requirements/dev.txt

"$uv" pip compile --quiet "${upgrade[@]}" --python-version 3.11 --universal --no-header \
  meta/ee-requirements.in -o meta/ee-requirements.txt
sed -i "1i # From meta/ee-requirements.in by scripts/update-pins.sh: do not edit." meta/ee-requirements.txt

for input in roles/airflow_install/files/locks/airflow-*.in; do
  version=$(basename "$input" .in)
  for python in "${pythons[@]}"; do
    lock="roles/airflow_install/files/locks/${version}-py${python}.txt"
    "$uv" pip compile --quiet "${upgrade[@]}" --python-version "$python" \
      --python-platform x86_64-manylinux_2_28 --no-header --no-annotate \
      "$input" -o "$lock"
    sed -i "1i # ${version} on Python ${python}, from ${input##*/} by scripts/update-pins.sh: do not edit." "$lock"
    echo "$lock: $(grep -c '==' "$lock") packages"
  done
done
