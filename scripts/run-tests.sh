#!/usr/bin/env bash
# Runs the compiled node:test files of one suite: scripts/run-tests.sh unit|e2e [FILE...]
# Without FILEs, every dist/test/<suite>/**/*.test.js (helpers like lab.js are never run as
# tests). A suite that runs no test fails: no test files (not built?) or files with no test in
# them exit 1, so a broken glob or build can never pass as green.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
suite=${1:?usage: run-tests.sh unit|e2e [FILE...]}
shift

args=(--test --test-reporter=spec)
case "$suite" in
  unit) ;;
  e2e)
    if [ "$(id -u)" -ne 0 ]; then
      echo "e2e tests build network namespaces and need root" >&2
      exit 1
    fi
    # Test files run in parallel (each lab has its own namespaces); one test may take 10 min at most (the crash suites take minutes on a loaded machine).
    args+=(--test-concurrency=3 --test-timeout=600000)
    ;;
  *) echo "run-tests.sh: unknown suite $suite (unit|e2e)" >&2; exit 2 ;;
esac

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  shopt -s nullglob globstar
  files=(dist/test/"$suite"/**/*.test.js)
fi
if [ "${#files[@]}" -eq 0 ]; then
  echo "✖ no $suite test files in dist/test/$suite (run npm run build?)" >&2
  exit 1
fi
out=$(mktemp /tmp/berth-run-tests-XXXXXX)
trap 'rm -f "$out"' EXIT
set +e
node "${args[@]}" "${files[@]}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e
# node's spec reporter ends with "ℹ tests N". A file that defines no test is reported as one
# passing "test" named after the file: those are not tests. None left is a suite that tested
# nothing; an empty file among others is named too (a test file without tests is a mistake).
total=$(grep -aE '^ℹ tests [0-9]+' "$out" | awk '{n += $3} END {print n + 0}')
empty=$(grep -aE '^✔ [^ ]*\.test\.js \(' "$out" | awk '{print $2}' || true)
if [ "$rc" -eq 0 ] && [ -n "$empty" ]; then
  echo "✖ no test in: $(echo $empty)" >&2
  rc=1
fi
if [ "$rc" -eq 0 ] && [ "$total" -eq "$(printf '%s' "$empty" | grep -c . || true)" ]; then
  echo "✖ the $suite suite ran no test (files: ${files[*]})" >&2
  rc=1
fi
exit "$rc"
