// Tearing a lab down, synchronously (so it also works from a signal handler or process 'exit'):
// find every process living in one of the lab's network namespaces, kill it, unmount everything
// under the lab's directory, delete the lab's named namespaces and the directory, then report
// whatever is still there.
//
// Network namespaces are identified by (device, inode) of their nsfs file, exactly what
// `stat /proc/PID/ns/net` gives. The machine's own namespace (ours, and PID 1's) is never in the
// kill set, whatever a caller passes.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

export interface NsId {
  dev: number;
  ino: number;
}

export function sameNs(a: NsId, b: NsId): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** The namespace a nsfs file (or /proc/PID/ns/net) refers to; null if it is not one. */
export function nsIdOf(path: string): NsId | null {
  try {
    const s = statSync(path);
    const nsfs = nsfsDev();
    if (nsfs !== null && s.dev !== nsfs) return null; // an unmounted placeholder file
    return { dev: s.dev, ino: s.ino };
  } catch {
    return null;
  }
}

let nsfsDevCache: number | null | undefined;
function nsfsDev(): number | null {
  if (nsfsDevCache === undefined) {
    try {
      nsfsDevCache = statSync("/proc/self/ns/net").dev;
    } catch {
      nsfsDevCache = null;
    }
  }
  return nsfsDevCache;
}

/** Namespaces that must never be treated as a lab's: ours and init's. */
function protectedNs(): NsId[] {
  return [nsIdOf("/proc/self/ns/net"), nsIdOf("/proc/1/ns/net")].filter((x): x is NsId => x !== null);
}

export function isProtectedNs(id: NsId): boolean {
  return protectedNs().some((p) => sameNs(p, id));
}

export function listPids(): number[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** Processes (not zombies: they have no namespace any more) whose network namespace is in `set`. */
export function pidsInNetns(set: readonly NsId[]): number[] {
  const wanted = set.filter((id) => !isProtectedNs(id));
  if (wanted.length === 0) return [];
  const out: number[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    const id = nsIdOf(`/proc/${pid}/ns/net`);
    if (id && wanted.some((w) => sameNs(w, id))) out.push(pid);
  }
  return out;
}

interface ProcStat {
  ppid: number;
  /** Start time in clock ticks since boot. */
  startTicks: number;
}

export function procStat(pid: number): ProcStat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(rest[1]);
    const startTicks = Number(rest[19]);
    if (!Number.isFinite(ppid) || !Number.isFinite(startTicks)) return null;
    return { ppid, startTicks };
  } catch {
    return null;
  }
}

/** Every descendant of `root` (children, their children, ...), not `root` itself. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of listPids()) {
    const st = procStat(pid);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(pid);
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Clock ticks since boot at wall-clock time `ms`, to compare with process start times. */
export function ticksSinceBoot(ms: number): number {
  const uptimeS = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  const bootMs = Date.now() - uptimeS * 1000;
  return ((ms - bootMs) / 1000) * 100; // USER_HZ is 100 on Linux
}

export interface Mount {
  /** Field 4: the root of the mount; for nsfs, "net:[INODE]". */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/PID/mountinfo text (see proc(5)). */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const f = line.split(" ");
    const sep = f.indexOf("-");
    const mp = f[4];
    const fsType = f[sep + 1];
    const source = f[sep + 2];
    if (sep < 0 || mp === undefined || fsType === undefined) continue;
    out.push({ root: unescapeMount(f[3] ?? ""), mountPoint: unescapeMount(mp), fsType, source: unescapeMount(source ?? "") });
  }
  return out;
}

function isUnder(path: string, dir: string): boolean {
  const d = dir.endsWith("/") ? dir : `${dir}/`;
  return path === dir || path.startsWith(d);
}

/** Mount points at or under `dir` in our mount namespace, deepest (and latest) first. */
export function mountsUnder(dir: string): Mount[] {
  const all = parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"));
  return all.filter((m) => isUnder(m.mountPoint, dir)).reverse().sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export interface TeardownSpec {
  /** The lab's name: its namespaces are /run/netns/<name>-*. */
  name: string;
  /** The lab's temp dir (data-root, exec-root, logs); every mount under it is removed. */
  dir: string;
  /** Where the lab's berthd keeps sandbox namespaces (nsfs bind mounts). */
  execRoot: string;
  /** Where the lab's berthd keeps sandboxes/<id>/pid files. */
  dataRoot: string;
  /** Processes the lab started (berthd, servers, commands still running). */
  pids: readonly number[];
  /** berthd's pid if it runs: its descendants are the lab's too. */
  berthdPid?: number | undefined;
  /** When the lab was created (ms since epoch): pid files older than that are not trusted. */
  createdAtMs: number;
}

/** The /run/netns names that belong to the lab. */
export function labNetnsNames(name: string): string[] {
  try {
    return readdirSync("/run/netns").filter((n) => n.startsWith(`${name}-`));
  } catch {
    return [];
  }
}

/** Every network namespace the lab owns or its berthd created, as far as can still be seen. */
export function collectLabNamespaces(spec: TeardownSpec): NsId[] {
  const found: NsId[] = [];
  const add = (id: NsId | null) => {
    if (id && !isProtectedNs(id) && !found.some((f) => sameNs(f, id))) found.push(id);
  };
  for (const n of labNetnsNames(spec.name)) add(nsIdOf(join("/run/netns", n)));
  const nsDir = join(spec.execRoot, "netns");
  try {
    for (const f of readdirSync(nsDir)) add(nsIdOf(join(nsDir, f)));
  } catch {
    // no sandboxes
  }
  for (const m of mountsUnder(spec.dir)) if (m.fsType === "nsfs") add(nsIdOf(m.mountPoint));
  const roots = [...spec.pids, ...(spec.berthdPid ? [spec.berthdPid] : [])];
  for (const r of roots) {
    add(nsIdOf(`/proc/${r}/ns/net`));
    for (const d of descendantsOf(r)) add(nsIdOf(`/proc/${d}/ns/net`));
  }
  return found;
}

/** Inodes of network namespaces bind-mounted somewhere outside `dir`: someone else's. */
function foreignMountedNetns(dir: string): Set<number> {
  const out = new Set<number>();
  for (const m of parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"))) {
    const ino = /^net:\[(\d+)\]$/.exec(m.root)?.[1];
    if (m.fsType === "nsfs" && ino && !isUnder(m.mountPoint, dir)) out.add(Number(ino));
  }
  return out;
}

/**
 * Pids from DATA_ROOT/sandboxes/<id>/pid that are alive, started after the lab, and live in a
 * namespace that is neither ours nor mounted outside the lab (a reused pid of another lab's).
 * They catch a sandbox whose namespace is no longer mounted.
 */
function sandboxPids(spec: TeardownSpec): number[] {
  const dir = join(spec.dataRoot, "sandboxes");
  const out: number[] = [];
  let ids: string[];
  try {
    ids = readdirSync(dir);
  } catch {
    return out;
  }
  const minTicks = ticksSinceBoot(spec.createdAtMs) - 100; // 1 s of slack for rounding
  const foreign = foreignMountedNetns(spec.dir);
  for (const id of ids) {
    let pid: number;
    try {
      pid = Number(readFileSync(join(dir, id, "pid"), "utf8").trim());
    } catch {
      continue;
    }
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    const st = procStat(pid);
    const ns = nsIdOf(`/proc/${pid}/ns/net`);
    if (st && st.startTicks >= minTicks && ns && !isProtectedNs(ns) && !foreign.has(ns.ino)) out.push(pid);
  }
  return out;
}

/** SIGKILLs `first`, then everything in `namespaces`, until nothing is left or `timeoutMs` passes. */
function killAll(first: readonly number[], namespaces: readonly NsId[], timeoutMs: number): void {
  for (const pid of first) if (pid > 1 && pid !== process.pid) killPid(pid, "SIGKILL");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pidsInNetns(namespaces);
    if (left.length === 0 || Date.now() > deadline) return;
    for (const pid of left) killPid(pid, "SIGKILL");
    sleepSync(20);
  }
}

function unmountAll(dir: string): void {
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      const r = spawnSync("umount", [m.mountPoint], { stdio: "ignore", timeout: 10_000 });
      if (r.status !== 0) spawnSync("umount", ["-l", m.mountPoint], { stdio: "ignore", timeout: 10_000 });
    }
  }
}

/**
 * Kills, unmounts, deletes. Returns a list of what is still there afterwards (empty: nothing
 * leaked). Never throws.
 */
export function teardownSync(spec: TeardownSpec): string[] {
  const problems: string[] = [];
  let namespaces: NsId[] = [];
  try {
    namespaces = collectLabNamespaces(spec);
    const descendants = spec.berthdPid ? descendantsOf(spec.berthdPid) : [];
    for (const p of spec.pids) descendants.push(...descendantsOf(p));
    const first = [...(spec.berthdPid ? [spec.berthdPid] : []), ...spec.pids, ...descendants, ...sandboxPids(spec)];
    killAll(first, namespaces, 5000);
  } catch (e) {
    problems.push(`killing processes: ${(e as Error).message}`);
  }
  // Survivors are looked for now, while the lab's namespaces are still mounted: once they are
  // deleted the kernel may give their inode numbers to another lab's new namespaces (labs run in
  // parallel), and a process there would be taken for one of ours.
  problems.push(...processLeaks(namespaces));
  try {
    unmountAll(spec.dir);
  } catch (e) {
    problems.push(`unmounting: ${(e as Error).message}`);
  }
  for (const n of labNetnsNames(spec.name)) {
    const r = spawnSync("ip", ["netns", "del", n], { encoding: "utf8", timeout: 10_000 });
    if (r.status !== 0) problems.push(`ip netns del ${n}: ${(r.stderr || r.error?.message || "").trim()}`);
  }
  try {
    rmSync(spec.dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    problems.push(`removing ${spec.dir}: ${(e as Error).message}`);
  }
  return [...problems, ...findLeaks(spec, [])];
}

/** What of the lab is still on the machine. */
export function findLeaks(spec: Pick<TeardownSpec, "name" | "dir">, namespaces: readonly NsId[]): string[] {
  const leaks: string[] = [];
  for (const n of labNetnsNames(spec.name)) leaks.push(`namespace /run/netns/${n} still exists`);
  for (const m of mountsUnder(spec.dir)) leaks.push(`mount ${m.mountPoint} (${m.fsType}) still mounted`);
  leaks.push(...processLeaks(namespaces));
  if (existsSync(spec.dir)) leaks.push(`directory ${spec.dir} still exists`);
  return leaks;
}

/** Processes still in one of `namespaces`; only exact while those namespaces are still held. */
function processLeaks(namespaces: readonly NsId[]): string[] {
  return pidsInNetns(namespaces).map((pid) => {
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
      // gone meanwhile
    }
    return `process ${pid} (${cmd}) still in a lab namespace`;
  });
}
