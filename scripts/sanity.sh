#!/usr/bin/env bash
# ansible-test sanity for dataops.airflow, without Docker: every test runs in a virtualenv of
# its own (--venv) whose pinned requirements come from PyPI, on Python 3.11 by default.
#
#   bash scripts/sanity.sh                   # all sanity tests (about 3.5 min the first time,
#                                            # later runs reuse the virtualenvs)
#   bash scripts/sanity.sh --test pylint     # extra arguments go to `ansible-test sanity`
#   SANITY_PYTHON=3.12 bash scripts/sanity.sh
#
# ansible-test only runs from .../ansible_collections/<namespace>/<name>, so the files git knows
# about (tracked, plus new files that are not ignored) are copied to
# .cache/sanity/ansible_collections/dataops/airflow first. That copy gets a throw-away git
# repository of its own: ansible-test lists files with git, and the checkout ignores .cache.
#
# ansible-test bootstraps pip in each virtualenv with a get-pip.py it downloads from a host other
# than PyPI. When no such script is cached in ~/.ansible/test/cache, a stand-in is cached there
# that installs pip from the interpreter's own ensurepip and then the pinned pip from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python_version=${SANITY_PYTHON:-3.11}
stage=$root/.cache/sanity/ansible_collections/dataops/airflow

log() { printf '==> %s\n' "$*"; }

[ -x .venv/bin/ansible-test ] || bash scripts/setup.sh --no-docker

stage_collection() {
  mkdir -p "$stage"
  # Keep tests/output (ansible-test's delegation virtualenv) between runs; replace the rest.
  find "$stage" -mindepth 1 -maxdepth 1 ! -name .git ! -name tests -exec rm -rf {} +
  if [ -d "$stage/tests" ]; then
    find "$stage/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} +
  fi
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' path; do
      [ -e "$path" ] && printf '%s\0' "$path"
    done |
    tar --null -T - -cf - | tar -xf - -C "$stage"
  if [ ! -d "$stage/.git" ]; then
    git -C "$stage" init -q
  fi
}

pip_bootstrap_stand_in() {
  local version cache
  version=$(.venv/bin/python -c '
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="'"$python_version"'"))["pip"])')
  cache=$HOME/.ansible/test/cache/get_pip_${version//./_}.py
  [ -s "$cache" ] && return 0
  log "caching a pip $version bootstrap stand-in: $cache"
  mkdir -p "$(dirname "$cache")"
  cat > "$cache" <<'PY'
"""Stand-in for get-pip.py, cached by scripts/sanity.sh: pip from ensurepip, then from PyPI."""
import subprocess
import sys

# get-pip.py options that pip itself does not know
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
# ensurepip in a child process: it disables pip's configuration (index, certificates) in the
# environment of the process that calls it
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *args])
PY
}

shellcheck_available() {
  command -v shellcheck >/dev/null && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing shellcheck"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null &&
      return 0
  fi
  log "shellcheck is not installed: ansible-test skips that test"
}

stage_collection
pip_bootstrap_stand_in
shellcheck_available
log "ansible-test sanity --venv --python $python_version $*"
cd "$stage"
started=$SECONDS
status=0
"$root/.venv/bin/ansible-test" sanity --venv --python "$python_version" --color no "$@" || status=$?
log "ansible-test sanity finished in $((SECONDS - started)) s with status $status"
exit "$status"
