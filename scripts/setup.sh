#!/usr/bin/env bash
# Prepares a machine to build and test berth. Idempotent; run as root on Debian 12.
#   1. Debian packages berth and its tests use (installed only if missing; apt-get update only then)
#   2. npm ci (only if node_modules is missing or does not match package-lock.json)
#   3. npm run build (tsc -> dist/)
# Exits non-zero if anything fails; tsc still emits dist/ when it reports type errors.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*"; }

# ---- 1. Debian packages ----------------------------------------------------------------------
# runc runs sandboxes made from images (crun refuses hosts with hybrid cgroups); attr marks
# overlayfs opaque directories when image layers are unpacked; docker-compose (1.29) and docker.io's
# docker CLI are real clients the e2e suites drive against berthd.
# docker.io: also the real Docker engine the parity suite (test/e2e/600-) and the bench compare berth with;
# the tests never use a system dockerd: they start their own inside lab namespaces.
# python3: libexec/tty-relay makes the pseudo-terminal of docker run -t / exec -t (Node has no pty
# API); tmux: the TTY suites type into a real terminal and read its screen, as a person would.
# etcd-server, etcd-client: the multi-host suites run their own etcd members inside lab namespaces.
# gcc, libc6-dev: build berthd's native helpers (native/berth-netlink.c, and the sandbox shim
# native/berth-init.c, linked statically against libc6-dev's libc.a: scripts/build-native.sh).
packages=(gcc libc6-dev iproute2 nftables iptables util-linux bind9-dnsutils socat curl busybox-static jq conntrack procps haproxy wrk runc attr docker.io docker-compose etcd-server etcd-client python3 tmux)
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # No package may start a service (docker.io's dockerd would add firewall rules to the machine's
  # own namespace): policy-rc.d denies every start while installing, unless one is there already.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# written by berth scripts/setup.sh while installing packages\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  rc=0
  apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
  [ "$own_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" -eq 0 ] || exit "$rc"
else
  say "Debian packages: all present"
fi

# ---- Node ------------------------------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "node and npm (Node 20 or newer) are required and not installed" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  say "Node $(node --version) is too old: berth needs Node 20 or newer" >&2
  exit 1
fi

# ---- 2. npm ci -------------------------------------------------------------------------------
# node_modules is stale when npm's record of what it installed (node_modules/.package-lock.json)
# differs from package-lock.json: a package missing, extra, or at another version.
deps_stale() {
  [ -d node_modules ] || { echo "node_modules is missing"; return 0; }
  node - <<'JS'
const fs = require("fs");
const read = (p) => { try { return JSON.parse(fs.readFileSync(p, "utf8")); } catch { return null; } };
const lock = read("package-lock.json");
const have = read("node_modules/.package-lock.json");
const why = [];
if (!lock) why.push("package-lock.json is unreadable");
else if (!have) why.push("node_modules/.package-lock.json is missing");
else {
  const fits = (e) => (!e.os || e.os.includes(process.platform)) && (!e.cpu || e.cpu.includes(process.arch));
  for (const [key, want] of Object.entries(lock.packages || {})) {
    if (key === "" || want.link) continue;
    const got = have.packages?.[key];
    const needed = !want.optional || fits(want);
    if (!got) { if (needed) why.push(`${key} is not installed`); continue; }
    if (got.version !== want.version) why.push(`${key} is ${got.version}, lock says ${want.version}`);
    else if (needed && !fs.existsSync(key)) why.push(`${key} is missing on disk`);
  }
  for (const key of Object.keys(have.packages || {})) {
    if (!(key in (lock.packages || {}))) why.push(`${key} is not in package-lock.json`);
  }
}
if (why.length) { console.log(why.slice(0, 5).join("; ")); process.exit(0); }
process.exit(1);
JS
}
if reason=$(deps_stale); then
  say "npm ci ($reason)"
  npm ci --no-audit --no-fund
else
  say "node_modules matches package-lock.json"
fi

# ---- 3. build --------------------------------------------------------------------------------
say "npm run build"
npm run build
say "done"
