// Labs: throw-away network namespaces named bn-*. Nothing here touches the machine's own namespace:
// every link, address, route and sysctl is made inside a bn-* namespace (`ip -n`, `nsenter --net`).
import { existsSync, mkdirSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeCgroupTrees } from './dockerd.js';
import { run, startDaemon, waitFor, type Daemon } from './proc.js';
import { allProcs, cmdline, killProcs, nsInode, procInfo, procNetnsInode, processTree, type ProcInfo } from './procfs.js';

/**
 * Prefix of every lab namespace and cgroup. BENCH_PREFIX (e.g. "bs-") gives a run its own, so two
 * runs at once on a shared machine never take each other's namespaces for leftovers.
 */
export const PREFIX = /^[a-z]{1,4}-$/.test(process.env['BENCH_PREFIX'] ?? '') ? process.env['BENCH_PREFIX']! : 'bn-';
/** Everything the harness writes at run time (daemon data roots, rootfs, configs) lives here. */
export const WORK_ROOT = `/var/tmp/${PREFIX}bench`;

/** Addresses of every lab: RFC 2544 benchmarking range, only ever inside lab namespaces. */
export const LAB_NET = { hostIp: '198.18.0.1', outIp: '198.18.0.2', prefix: 24 } as const;

export function nsPath(name: string): string {
  return `/run/netns/${name}`;
}

export async function addNetns(name: string): Promise<void> {
  if (!name.startsWith(PREFIX)) throw new Error(`refusing to create namespace ${name} without prefix ${PREFIX}`);
  await run(['ip', 'netns', 'add', name]);
  await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

export async function delNetns(name: string): Promise<void> {
  if (!name.startsWith(PREFIX)) throw new Error(`refusing to delete namespace ${name}`);
  if (existsSync(nsPath(name))) await run(['ip', 'netns', 'del', name], { check: false });
}

export function listLabNetns(): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(PREFIX));
  } catch {
    return [];
  }
}

/** Processes whose network namespace is one of `names`, plus all their descendants. */
export function procsInNetns(names: string[]): ProcInfo[] {
  return procsInNetnsFiles(names.map(nsPath));
}

/** Processes whose network namespace is one of these nsfs files (bind mounts), plus their descendants. */
export function procsInNetnsFiles(files: string[]): ProcInfo[] {
  const inodes = new Set<number>();
  for (const f of files) {
    const ino = nsInode(f);
    if (ino !== undefined) inodes.add(ino);
  }
  if (inodes.size === 0) return [];
  const procs = allProcs();
  const seen = new Map<number, ProcInfo>();
  for (const p of procs) {
    if (p.pid === process.pid) continue;
    const ino = procNetnsInode(p.pid);
    if (ino !== undefined && inodes.has(ino)) {
      for (const d of processTree(p.pid, procs)) if (d.pid !== process.pid) seen.set(d.pid, d);
    }
  }
  return [...seen.values()];
}

/**
 * A lab: a "host" namespace bn-<tag>-h and an "outside" namespace bn-<tag>-o joined by a veth pair
 * (198.18.0.1 <-> 198.18.0.2). The host's default route points at the outside namespace, where nothing
 * forwards further, so no packet can leave the lab. Extra namespaces made through the lab are prefixed
 * bn-<tag>- and removed with it.
 */
export class Lab {
  readonly host: string;
  readonly out: string;
  readonly dir: string;
  readonly resolvConf: string;
  private extraNs = new Set<string>();
  private holder?: Daemon;

  constructor(readonly tag: string) {
    this.host = `${PREFIX}${tag}-h`;
    this.out = `${PREFIX}${tag}-o`;
    this.dir = join(WORK_ROOT, tag);
    this.resolvConf = join(this.dir, 'resolv.conf');
  }

  async create(): Promise<void> {
    await this.destroy();
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    // The lab's own resolver: the outside namespace, where nothing answers on :53 (queries end there).
    writeFileSync(this.resolvConf, `nameserver ${LAB_NET.outIp}\noptions timeout:1 attempts:1\n`);
    await addNetns(this.host);
    await addNetns(this.out);
    await run(['ip', '-n', this.host, 'link', 'add', 'bnlab0', 'type', 'veth', 'peer', 'name', 'bnlab1', 'netns', this.out]);
    await run(['ip', '-n', this.host, 'addr', 'add', `${LAB_NET.hostIp}/${LAB_NET.prefix}`, 'dev', 'bnlab0']);
    await run(['ip', '-n', this.out, 'addr', 'add', `${LAB_NET.outIp}/${LAB_NET.prefix}`, 'dev', 'bnlab1']);
    await run(['ip', '-n', this.host, 'link', 'set', 'bnlab0', 'up']);
    await run(['ip', '-n', this.out, 'link', 'set', 'bnlab1', 'up']);
    await run(['ip', '-n', this.host, 'route', 'add', 'default', 'via', LAB_NET.outIp]);
    // Clients in the outside namespace open many short connections.
    await run(this.outCmd(['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65000']));
    await run(this.outCmd(['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1']));
  }

  /**
   * A private mount namespace for the host side, held by a sleeping process: /etc/resolv.conf is the
   * lab's, and `tmpfsRun` puts a fresh tmpfs on /run (so runtimes leave nothing in the machine's /run).
   */
  async startHolder(opts: { tmpfsRun?: boolean } = {}): Promise<void> {
    this.holder = startDaemon(
      ['nsenter', `--net=${nsPath(this.host)}`, 'unshare', '-m', '--propagation', 'slave', 'sleep', 'infinity'],
      join(this.dir, 'holder.log'),
    );
    const pid = this.holder.pid;
    // nsenter and unshare exec, so the PID ends up being sleep once the mount namespace is made.
    await waitFor('mount-namespace holder', async () => {
      const mine = readlinkSync('/proc/self/ns/mnt');
      return readlinkSync(`/proc/${pid}/ns/mnt`) !== mine && procInfo(pid)?.comm === 'sleep';
    });
    const mnt = ['nsenter', `--mount=/proc/${pid}/ns/mnt`];
    await run([...mnt, 'mount', '--bind', this.resolvConf, '/etc/resolv.conf']);
    if (opts.tmpfsRun) await run([...mnt, 'mount', '-t', 'tmpfs', '-o', 'mode=755', 'bn-run', '/run']);
  }

  get holderPid(): number | undefined {
    return this.holder?.pid;
  }

  /** argv to run a command in the lab's host namespace (and its private mount namespace if any). */
  hostCmd(argv: string[]): string[] {
    const ns = ['nsenter', `--net=${nsPath(this.host)}`];
    if (this.holder) ns.push(`--mount=/proc/${this.holder.pid}/ns/mnt`);
    return [...ns, ...argv];
  }

  outCmd(argv: string[]): string[] {
    return ['nsenter', `--net=${nsPath(this.out)}`, ...argv];
  }

  nsCmd(ns: string, argv: string[]): string[] {
    return ['nsenter', `--net=${nsPath(ns)}`, ...argv];
  }

  /** A container-like namespace bn-<tag>-<suffix>. */
  nsName(suffix: string): string {
    return `${PREFIX}${this.tag}-${suffix}`;
  }

  async addNs(suffix: string): Promise<string> {
    const name = this.nsName(suffix);
    await run(['ip', 'netns', 'add', name]);
    this.extraNs.add(name);
    return name;
  }

  async delNs(suffix: string): Promise<void> {
    const name = this.nsName(suffix);
    await run(['ip', 'netns', 'del', name], { check: false });
    this.extraNs.delete(name);
  }

  /** Kill every process living in this lab's namespaces (by PID), then delete the namespaces and files. */
  async destroy(extraNetnsFiles: string[] = []): Promise<void> {
    const names = listLabNetns().filter((n) => n.startsWith(`${PREFIX}${this.tag}-`));
    await killProcs(procsInNetnsFiles([...names.map(nsPath), ...extraNetnsFiles]), 2000);
    if (this.holder) {
      await killProcs(processTree(this.holder.pid), 1000);
      this.holder = undefined;
    }
    for (const n of names) await delNetns(n);
    this.extraNs.clear();
    await unmountUnder(this.dir);
  }
}

/** Remove everything a previous (crashed) run may have left: bn-* namespaces, their processes, WORK_ROOT. */
/**
 * Unmount what is mounted under dir in the harness's mount namespace (berthd's netns bind mounts).
 * Daemons started in a private mount namespace keep their mounts there; those vanish with it.
 */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await run(['findmnt', '-rn', '-o', 'TARGET'], { check: false })).stdout
    .split('\n')
    .filter((t) => t === dir || t.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run(['umount', '-l', m], { check: false });
}

/** Namespace files daemons keep under WORK_ROOT (berthd's EXEC_ROOT/netns/<id>). */
function workNetnsFiles(): string[] {
  const out: string[] = [];
  if (!existsSync(WORK_ROOT)) return out;
  for (const tag of readdirSync(WORK_ROOT)) {
    const dir = join(WORK_ROOT, tag, 'exec', 'netns');
    try {
      for (const f of readdirSync(dir)) out.push(join(dir, f));
    } catch {
      /* none */
    }
  }
  return out;
}

export async function cleanupLeftovers(log: (s: string) => void): Promise<void> {
  const names = listLabNetns();
  const procs = procsInNetnsFiles([...names.map(nsPath), ...workNetnsFiles()]);
  // Servers the harness starts inside sandboxes' namespaces carry a config path under WORK_ROOT.
  for (const p of allProcs()) {
    if (p.pid !== process.pid && cmdline(p.pid).some((a) => a.startsWith(WORK_ROOT))) procs.push(p);
  }
  if (names.length || procs.length) log(`cleanup: ${names.length} namespaces, ${procs.length} processes left by an earlier run`);
  await killProcs(procs, 1000);
  for (const n of names) await delNetns(n);
  await unmountUnder(WORK_ROOT);
  // Empty cgroups the runtimes made under the bn-* parents the harness gives them.
  removeCgroupTrees((n) => n.startsWith(PREFIX));
  if (existsSync(WORK_ROOT)) rmSync(WORK_ROOT, { recursive: true, force: true });
}
