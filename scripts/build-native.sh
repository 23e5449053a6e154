#!/usr/bin/env bash
# Compiles berth's native helpers next to the modules that run them: native/berth-netlink.c
# (dist/src/kernel/berth-netlink) and native/berth-init.c, the sandbox shim
# (dist/src/kernel/berth-init). Without a C compiler it says so and berthd makes its namespaces
# and links with `unshare`/`ip` processes instead, and starts sandboxes through
# nsenter/unshare/libexec/sandbox-init (slower: one process per step). `npm run build` runs this;
# scripts/setup.sh installs gcc.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=dist/src/kernel
mkdir -p "$dir"
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null; then
  echo "build-native: no C compiler ($cc): berthd will spawn ip/unshare for each namespace change, and a shell chain for each sandbox start" >&2
  exit 0
fi
build() { # NAME [FLAGS...]
  local name=$1
  shift
  "$cc" -O2 -Wall -Wextra -Werror "$@" -o "$dir/$name.tmp" "native/$name.c"
  mv -f "$dir/$name.tmp" "$dir/$name"
}
build berth-netlink
# The shim runs once per sandbox for its whole life: linked statically, it has no relocated
# library pages of its own (48 KiB private memory against 96 KiB linked dynamically, measured
# with 10 shims; docs/performance.md). Without libc.a (libc6-dev) it is linked dynamically.
if ! build berth-init -static 2>/dev/null; then
  echo "build-native: cannot link berth-init statically (is libc6-dev installed?): linked dynamically" >&2
  build berth-init
fi
