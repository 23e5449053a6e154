#!/usr/bin/env bash
# Compiles berth's native helper (native/berth-netlink.c) next to the module that runs it
# (dist/src/kernel/berth-netlink). Without a C compiler it says so and berthd makes its namespaces
# and links with `unshare`/`ip` processes instead (slower: one process per step). `npm run build`
# runs this; scripts/setup.sh installs gcc.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=dist/src/kernel/berth-netlink
mkdir -p "$(dirname "$out")"
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null; then
  echo "build-native: no C compiler ($cc): berthd will spawn ip/unshare for each namespace change" >&2
  exit 0
fi
"$cc" -O2 -Wall -Wextra -Werror -o "$out.tmp" native/berth-netlink.c
mv -f "$out.tmp" "$out"
