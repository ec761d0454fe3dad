#!/usr/bin/env bash
# Runs one step of `make test` and records how long it took and how it ended, one line a step,
# in $DATAOPS_STEP_TIMES (when set): .ci/run prints these lines last.
#   bash scripts/step.sh NAME COMMAND [ARG...]
set -uo pipefail
name=$1
shift
started=$(date +%s)
"$@"
rc=$?
if [ -n "${DATAOPS_STEP_TIMES:-}" ]; then
  result=$([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)")
  printf 'step %-18s %5d s  %s\n' "$name" "$(( $(date +%s) - started ))" "$result" \
    >> "$DATAOPS_STEP_TIMES"
fi
exit "$rc"
