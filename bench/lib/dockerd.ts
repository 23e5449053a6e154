// The real Docker engine (Debian docker.io 20.10) run inside a lab, shared by the bench (bench/systems/docker.ts)
// and the parity e2e suite (test/e2e/600-docker-parity.test.ts). Only argv, config and file helpers live here:
// each harness starts the processes with its own runner. dockerd runs in a lab namespace, in a private mount
// namespace with a fresh tmpfs on /run (it makes /run/docker/plugins whatever its exec-root), with its own
// data-root, exec-root and socket: nothing of it reaches the machine, and the machine's docker is never used.
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

export const DOCKERD = '/usr/sbin/dockerd';
/** The Debian 20.10 CLI (a newer /usr/local/bin/docker may come first in PATH). */
export const DOCKER = '/usr/bin/docker';

/** Why dockerd cannot run here (a missing binary of package docker.io), or undefined. */
export function dockerMissing(): string | undefined {
  for (const f of [DOCKERD, DOCKER, '/usr/bin/containerd', '/usr/sbin/runc']) {
    if (!existsSync(f)) return `${f} not found (install Debian's docker.io: scripts/setup.sh)`;
  }
  return undefined;
}

export interface DockerdConfig {
  /** Containers' upstream resolver: an address inside the lab. */
  dns: string;
  /** The cgroup parent of its containers: a name the harness removes afterwards (removeCgroupTrees). */
  cgroupParent: string;
  userlandProxy?: boolean;
}

/** daemon.json */
export function dockerdConfigJson(c: DockerdConfig): string {
  return JSON.stringify({
    'userland-proxy': c.userlandProxy ?? true,
    dns: [c.dns],
    'log-level': 'warn',
    'cgroup-parent': c.cgroupParent,
  });
}

/** dockerd's argv with everything of its own under `dir` (data/, ex/); run it in the lab's namespaces. */
export function dockerdArgv(dir: string, sock: string, configFile: string): string[] {
  return [
    DOCKERD,
    '-H', `unix://${sock}`,
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'ex'),
    '--pidfile', join(dir, 'ex', 'docker.pid'),
    '--config-file', configFile,
    '--storage-driver', 'overlay2',
  ];
}

/** The docker CLI against one dockerd's socket. */
export function dockerCli(sock: string, args: string[]): string[] {
  return [DOCKER, '-H', `unix://${sock}`, ...args];
}

/** `docker import` of a rootfs tarball as an image whose default command is /bin/sh. */
export function importArgs(tar: string, image: string): string[] {
  return ['import', '-c', 'CMD ["/bin/sh"]', tar, image];
}

/**
 * Removes the (empty) cgroup trees whose top directory's name `match`es, under every v1 controller:
 * rmdir only, deepest first; a busy one stays.
 */
export function removeCgroupTrees(match: (name: string) => boolean): void {
  const root = '/sys/fs/cgroup';
  const rmTree = (dir: string): void => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) rmTree(join(dir, e));
    try {
      rmdirSync(dir);
    } catch {
      /* busy or gone */
    }
  };
  let controllers: string[] = [];
  try {
    controllers = readdirSync(root);
  } catch {
    return;
  }
  for (const c of controllers) {
    let names: string[] = [];
    try {
      names = readdirSync(join(root, c)).filter(match);
    } catch {
      continue;
    }
    for (const n of names) rmTree(join(root, c, n));
  }
}
