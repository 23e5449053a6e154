#!/usr/bin/env bash
# Runs the compiled node:test files of one suite: scripts/run-tests.sh unit|e2e [FILE...]
# Without FILEs, every dist/test/<suite>/**/*.test.js (helpers like lab.js are never run as
# tests). No test files is not an error: it says so and exits 0.
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
  echo "ℹ no $suite test files in dist/test/$suite (run npm run build?)"
  echo "ℹ pass 0"
  echo "ℹ fail 0"
  exit 0
fi
exec node "${args[@]}" "${files[@]}"
