// The Debian packages the harness needs; installed only when missing.
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { run } from './proc.js';

const POLICY_RC = '/usr/sbin/policy-rc.d';

export const PACKAGES = [
  'docker.io',
  'netavark',
  'aardvark-dns',
  'containernetworking-plugins',
  'podman',
  'runc',
  'dnsperf',
  'wrk',
  'busybox-static',
  'jq',
  'nginx-light', // the HTTP server for the data-path metric, started inside the sandbox's namespace
  'conntrack',
  'nftables',
  'iptables',
];

export async function missingPackages(): Promise<string[]> {
  const missing: string[] = [];
  for (const p of PACKAGES) {
    const r = await run(['dpkg-query', '-W', '-f', '${Status}', p], { check: false });
    if (!r.stdout.includes('install ok installed')) missing.push(p);
  }
  return missing;
}

export async function ensurePackages(log: (s: string) => void): Promise<void> {
  const missing = await missingPackages();
  if (missing.length === 0) return;
  log(`installing: ${missing.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await run(['apt-get', 'update'], { env, timeoutMs: 600_000 });
  // Package scripts must not start dockerd or nginx in the machine's own namespace (dockerd would add
  // firewall rules there): while installing, policy-rc.d denies every service start.
  const ownPolicy = !existsSync(POLICY_RC);
  if (ownPolicy) {
    writeFileSync(POLICY_RC, '#!/bin/sh\n# written by berth bench while installing packages\nexit 101\n');
    chmodSync(POLICY_RC, 0o755);
  }
  try {
    await run(['apt-get', 'install', '-y', '--no-install-recommends', ...missing], { env, timeoutMs: 900_000 });
  } finally {
    if (ownPolicy) rmSync(POLICY_RC, { force: true });
  }
}
