#!/usr/bin/env bash
# The whole check, as CI runs it: setup (packages, npm ci, build), unit tests, e2e tests, and the
# benchmark harness in --quick mode.
# Prints a summary; exits non-zero if any step failed or a test step ran no test. The tests run even if the build reported
# type errors (tsc still emits), so one run shows everything that is wrong.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

logdir=$(mktemp -d /tmp/berth-test-XXXXXX)
trap 'rm -rf "$logdir"' EXIT
declare -a names=() results=()
failed=0

# step NAME COMMAND...: runs it with its output shown and kept, records ok/FAIL and counts.
step() {
  local name=$1; shift
  local log="$logdir/$name.log"
  printf '\n===== %s: %s\n' "$name" "$*"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local counts
  counts=$(grep -aE '^ℹ (pass|fail) [0-9]+' "$log" | awk '{n[$2]+=$3} END {if (length(n)) printf "pass %d, fail %d", n["pass"], n["fail"]}')
  local verdict=ok
  # A test step that reports no passing test tested nothing: that is a failure, not a pass.
  if [ "$rc" -eq 0 ] && [ "$name" != setup ] && [ "$name" != bench ] && ! grep -aqE '^ℹ pass [1-9]' "$log"; then
    echo "✖ $name: no test ran" >&2
    rc=1
  fi
  if [ "$rc" -ne 0 ]; then verdict="FAIL (exit $rc)"; failed=1; fi
  names+=("$name")
  results+=("$verdict${counts:+  ($counts)}")
  return "$rc"
}

step setup bash scripts/setup.sh
if [ -d dist/test ] || [ -d dist/src ]; then
  step unit npm run --silent test:unit
  step e2e npm run --silent test:e2e
  # The benchmark harness with tiny sizes, so it never rots; its report goes to a scratch file
  # (BENCHMARKS.md is written only by full runs on a quiet machine).
  step bench npm run --silent bench -- --quick --out "$logdir/BENCHMARKS.quick.md"
else
  names+=(unit e2e bench); results+=("not run (no build)" "not run (no build)" "not run (no build)"); failed=1
fi

printf '\n===== summary\n'
for i in "${!names[@]}"; do
  printf '%-6s %s\n' "${names[$i]}" "${results[$i]}"
done
if [ "$failed" -ne 0 ]; then
  echo "RESULT: FAIL"
  exit 1
fi
echo "RESULT: OK"
