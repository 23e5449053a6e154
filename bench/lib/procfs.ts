// Reading /proc: process trees, memory, namespaces; killing processes by PID only.
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { readText, sleep } from './proc.js';

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  /** Start time in clock ticks since boot (field 22), to tell a PID apart from a reused one. */
  start: number;
}

export function procInfo(pid: number): ProcInfo | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const rest = stat.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); ppid is field 4, starttime field 22.
  return { pid, ppid: Number(rest[1]), comm, start: Number(rest[19]) };
}

export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

export function allProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const pid of allPids()) {
    const p = procInfo(pid);
    if (p) out.push(p);
  }
  return out;
}

/** pid and all its descendants (pid first). */
export function processTree(pid: number, procs: ProcInfo[] = allProcs()): ProcInfo[] {
  const kids = new Map<number, ProcInfo[]>();
  let root: ProcInfo | undefined;
  for (const p of procs) {
    if (p.pid === pid) root = p;
    const list = kids.get(p.ppid) ?? [];
    list.push(p);
    kids.set(p.ppid, list);
  }
  if (!root) return [];
  const out: ProcInfo[] = [];
  const stack: ProcInfo[] = [root];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    for (const k of kids.get(p.pid) ?? []) stack.push(k);
  }
  return out;
}

/** Resident set size in KiB (VmRSS), 0 if the process is gone or a kernel thread. */
export function rssKiB(pid: number): number {
  const status = readText(`/proc/${pid}/status`);
  const m = status?.match(/^VmRSS:\s+(\d+)\s+kB/m);
  return m ? Number(m[1]) : 0;
}

export function cmdline(pid: number): string[] {
  const raw = readText(`/proc/${pid}/cmdline`);
  return raw ? raw.split('\0').filter((s) => s.length > 0) : [];
}

/** Inode of a namespace file (/proc/PID/ns/net or /run/netns/NAME), or undefined. */
export function nsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

export function procNetnsInode(pid: number): number | undefined {
  try {
    const link = readlinkSync(`/proc/${pid}/ns/net`); // net:[4026532...]
    const m = link.match(/\[(\d+)\]/);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function alive(p: ProcInfo): boolean {
  const now = procInfo(p.pid);
  return now !== undefined && now.start === p.start && !isZombie(p.pid);
}

function isZombie(pid: number): boolean {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return true;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

/**
 * Stop these processes, each by its PID (checking its start time so a reused PID is never hit):
 * SIGTERM, wait up to graceMs, then SIGKILL.
 */
export async function killProcs(procs: ProcInfo[], graceMs = 3000): Promise<void> {
  const live = procs.filter(alive);
  if (live.length === 0) return;
  for (const p of live) {
    try {
      process.kill(p.pid, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const end = Date.now() + graceMs;
  while (Date.now() < end && live.some(alive)) await sleep(50);
  for (const p of live.filter(alive)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const end2 = Date.now() + 3000;
  while (Date.now() < end2 && live.some(alive)) await sleep(50);
}

/**
 * Memory of a set of processes (KiB) from /proc/PID/smaps_rollup: RSS counts every page a process
 * maps, shared library and binary pages once per process; PSS divides each shared page among the
 * processes mapping it (machine-wide, so other users of the same binary lower it); USS is the
 * private pages alone (Private_Clean + Private_Dirty): what the processes cost over the ones that
 * stay, the figure that grows with each sandbox.
 */
export function sumMemory(procs: ProcInfo[]): { rssKiB: number; pssKiB: number; ussKiB: number } {
  const out = { rssKiB: 0, pssKiB: 0, ussKiB: 0 };
  for (const p of procs) {
    const text = readText(`/proc/${p.pid}/smaps_rollup`) ?? '';
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    out.rssKiB += kib('Rss');
    out.pssKiB += kib('Pss');
    out.ussKiB += kib('Private_Clean') + kib('Private_Dirty');
  }
  return out;
}

/** Total RSS (KiB) and count of a set of processes. */
export function sumRss(procs: ProcInfo[]): { count: number; rssKiB: number } {
  let rss = 0;
  for (const p of procs) rss += rssKiB(p.pid);
  return { count: procs.length, rssKiB: rss };
}
