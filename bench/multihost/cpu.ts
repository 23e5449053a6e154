// CPU time from /proc: of given processes (utime + stime) and of the whole machine.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU milliseconds used so far by `pid` (0 if it is gone). */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * TICK_MS; // fields 14 and 15
  } catch {
    return 0;
  }
}

export interface MachineSample {
  busyMs: number;
  totalMs: number;
}

/** The whole machine's CPU counters (all cores): busy and total, in ms. */
export function machineCpu(): MachineSample {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busyMs: (total - idle) * TICK_MS, totalMs: total * TICK_MS };
}

/** "1.23 0.98 0.70": the load averages. */
export function loadText(): string {
  return loadavg().map((x) => x.toFixed(2)).join(' ');
}

/** A window over which the machine's and some processes' CPU use is measured. */
export class CpuWindow {
  private readonly m0 = machineCpu();
  private readonly p0: number[];
  readonly load0 = loadText();
  private readonly t0 = Date.now();

  constructor(private readonly pids: () => Array<number | undefined>) {
    this.p0 = pids().map(cpuMs);
  }

  /** busy: share of all cores busy (0-1); procMs: CPU ms the processes used; load at both ends. */
  end(): { busyShare: number; procMs: number; load0: string; load1: string; seconds: number } {
    const m1 = machineCpu();
    const p1 = this.pids().map(cpuMs);
    const procMs = p1.reduce((a, v, i) => a + Math.max(0, v - (this.p0[i] ?? 0)), 0);
    return {
      busyShare: (m1.busyMs - this.m0.busyMs) / Math.max(1, m1.totalMs - this.m0.totalMs),
      procMs,
      load0: this.load0,
      load1: loadText(),
      seconds: (Date.now() - this.t0) / 1000,
    };
  }
}
