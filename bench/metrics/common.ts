// Helpers shared by the metric runners.
import type { MetricBuilder } from '../lib/result.js';
import type { Ctx, SystemBase } from '../systems/types.js';

export interface Sizes {
  /** Metric 1: alternating iterations per system. */
  setupIters: number;
  /** Metric 2: sandboxes per series, and series per system. */
  seqCount: number;
  seqRepeats: number;
  /** Metric 2b: sandboxes on one host (a Linux bridge takes 1,024 ports). */
  scaleCount: number;
  /** Metric 3: run -d -p iterations per system. */
  runIters: number;
  /** Metric 4: published-port counts for the data path, wrk seconds per round, rounds; ports for the RSS cost. */
  portCounts: number[];
  wrkSeconds: number;
  wrkRounds: number;
  proxyPorts: number;
  /**
   * Ports a system with addRuleFillers (Docker) publishes itself; beyond this its own rules are copied in
   * one batch (dockerd needs minutes per thousand ports once its chains are long).
   */
  realPortsMax: number;
  /** Metric 5: dnsperf seconds per run, fixed rate (q/s), rounds, names registered. */
  dnsSeconds: number;
  dnsRate: number;
  dnsRounds: number;
  dnsNames: number;
  /** Metric 6: sandboxes for the loaded state. */
  memSandboxes: number;
  /** Metric 7: exposed ports published with -P, and rounds. */
  publishAllPorts: number;
  publishAllRounds: number;
  /** Metric 8: services (x 3 replicas) defined besides the measured one. */
  svcCount: number;
  /** Metric 8: failover rounds that count. */
  failoverRounds: number;
  /** Metric 9: wrk seconds per load-balancer run (rounds: wrkRounds). */
  lbSeconds: number;
  /** Metric 10: services registered (the last is the loaded catalog), blocking-query changes timed, seconds of reads per round. */
  catalogServices: number[];
  catalogWakeups: number;
  catalogReadSeconds: number;
}

export const FULL: Sizes = {
  setupIters: 15,
  seqCount: 100,
  seqRepeats: 2,
  scaleCount: 1000,
  runIters: 8,
  portCounts: [1, 1000, 5000],
  wrkSeconds: 4,
  wrkRounds: 3,
  proxyPorts: 20,
  realPortsMax: 1000,
  dnsSeconds: 8,
  dnsRate: 2000,
  dnsRounds: 2,
  dnsNames: 10,
  memSandboxes: 100,
  publishAllPorts: 2000,
  publishAllRounds: 5,
  svcCount: 1000,
  failoverRounds: 5,
  lbSeconds: 10,
  catalogServices: [1, 1000],
  catalogWakeups: 200,
  catalogReadSeconds: 3,
};

export const QUICK: Sizes = {
  setupIters: 2,
  seqCount: 10,
  seqRepeats: 1,
  scaleCount: 20,
  runIters: 2,
  portCounts: [1, 50],
  wrkSeconds: 1,
  wrkRounds: 1,
  proxyPorts: 3,
  realPortsMax: 1000,
  dnsSeconds: 2,
  dnsRate: 2000,
  dnsRounds: 1,
  dnsNames: 3,
  memSandboxes: 5,
  publishAllPorts: 200,
  publishAllRounds: 1,
  svcCount: 10,
  failoverRounds: 1,
  lbSeconds: 3,
  catalogServices: [1, 50],
  catalogWakeups: 20,
  catalogReadSeconds: 1,
};

export interface MetricContext extends Ctx {
  sizes: Sizes;
  /** The command line to reproduce a metric alone (filled in per metric). */
  commandFor: (metric: string) => string;
}

/** Systems that can run here; the others are recorded as "not measured: <why>". */
export async function usable<T extends SystemBase>(b: MetricBuilder, systems: T[], ctx: Ctx): Promise<T[]> {
  const out: T[] = [];
  for (const s of systems) {
    const why = await s.check().catch((e: unknown) => `check failed: ${errText(e)}`);
    if (why) {
      b.skip(s.name, why);
      ctx.log(`  ${s.name}: not measured: ${why}`);
    } else out.push(s);
  }
  return out;
}

/** The systems in a different order each round, so no system always goes first. */
export function rotate<T>(xs: T[], k: number): T[] {
  if (xs.length === 0) return xs;
  const r = k % xs.length;
  return [...xs.slice(r), ...xs.slice(0, r)];
}

export function errText(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s.split('\n').slice(0, 4).join(' / ').slice(0, 600);
}

/**
 * Run fn for a system; on failure record it as not measured (with the error) and stop the system,
 * so one broken peer does not end the whole run. Returns false if it failed.
 */
export async function guarded(
  b: MetricBuilder,
  s: SystemBase,
  ctx: Ctx,
  fn: () => Promise<void>,
  measureIds?: string[],
): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (e) {
    const why = `failed: ${errText(e)}`;
    ctx.log(`  ${s.name}: ${why}`);
    b.skip(s.name, why, measureIds);
    await s.stop().catch(() => {});
    return false;
  }
}

/** Add a started system's own remarks to the metric's notes (once per system and text). */
export async function describe(b: MetricBuilder, s: SystemBase): Promise<void> {
  if (!s.describe) return;
  const notes = await s.describe().catch((e: unknown) => [`${s.name}: could not describe itself: ${errText(e)}`]);
  for (const n of notes) if (!b.result.notes.includes(n)) b.note(n);
}
