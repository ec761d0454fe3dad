#!/usr/bin/env bash
# The last lines of a CI run: each step's time and, when the run failed, what failed (pytest's
# short summary and assertion lines, Ansible's fatal results, molecule's idempotence report),
# which the scenario's cleanup and destroy would otherwise scroll out of the kept tail.
#   bash scripts/ci_digest.sh LOG STEP_TIMES EXIT_CODE
set -uo pipefail
log=$1
steps=$2
rc=$3
# The log without colour codes and molecule's "│ " frame, read once.
plain=$(sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^ *│ \{0,1\}//' "$log")

echo "==== ci digest ===="
if [ "$rc" -ne 0 ]; then
  echo "-- what failed (the last 16 lines that say so; $log has everything)"
  grep -E -A2 \
      -e '^(FAILED|ERROR) [^ ]+::' \
      -e '^E +[A-Za-z_.]*(Error|Exception):' \
      -e '^fatal: \[' \
      -e 'Idempotence test failed' <<< "$plain" \
    | grep -v -e '^--$' -e '\.\.\.ignoring' \
    | cut -c1-300 | tail -n 16
fi
if [ -s "$steps" ]; then
  echo "-- steps"
  cat "$steps"
fi
# Every pytest run's closing line ("320 passed, 1 skipped in 7.1s" with -q, else framed by
# "=" signs), added up.
grep -E -o '^(=+ )?[0-9]+ (passed|failed|skipped|error|errors)[a-z0-9, ]* in [0-9.]+s' <<< "$plain" \
  | awk '{ for (i = 1; i < NF; i++) if ($i ~ /^[0-9]+$/) { w = $(i + 1); sub(/,$/, "", w); n[w] += $i } }
         END { printf "tests: %d passed, %d failed, %d skipped\n",
               n["passed"], n["failed"] + n["error"] + n["errors"], n["skipped"] }'
