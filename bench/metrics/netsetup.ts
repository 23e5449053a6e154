// Metric 1: network setup and teardown of one sandbox (veth, address, routes, rules, DNS registration)
// on a network that already has one sandbox, with one published port.
// Metric 2: N sandboxes set up one after another on one network, one published port each.
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { timed } from '../lib/proc.js';
import type { NetSetupSystem } from '../systems/types.js';
import { describe, guarded, rotate, usable, type MetricContext } from './common.js';

const KEEPER = 4000;

/** berthd's own timing of the operation: the network phase (links, firewall, DNS) and the whole of it. */
function addDaemonSide(b: MetricBuilder, s: NetSetupSystem, i: number, kind: 'setup' | 'teardown', measure: string): number | undefined {
  const d = s.daemonSide?.(i, kind);
  if (!d) return undefined;
  b.add(measure, `${s.name}: daemon, network phase`, d.net, { afterSystem: s.name, berth: true });
  b.add(measure, `${s.name}: daemon, whole ${kind === 'setup' ? 'start' : 'removal'}`, d.total, { afterSystem: s.name });
  return d.net;
} // sandbox index kept up during metric 1 so every measured setup is "warm"

export async function metricSetup(ctx: MetricContext, systems: NetSetupSystem[], berth: string[]): Promise<MetricResult> {
  const b = new MetricBuilder({
    id: 'setup',
    title: '1. Network setup and teardown of one sandbox',
    description:
      'Wall time to give one sandbox its network (namespace, veth, address, routes, firewall rules, ' +
      'one published port 80, DNS registration where the system has DNS) and to take it down again, on a ' +
      'bridge network that already has another sandbox. Systems alternate every iteration.',
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('setup'),
  });
  b.measure('setup', 'setup of one sandbox', 'ms', 'lower');
  b.measure('teardown', 'teardown of one sandbox', 'ms', 'lower');
  let live = await usable(b, systems, ctx);
  const failed = new Set<NetSetupSystem>();
  try {
    for (const s of live) {
      ctx.log(`  ${s.name}: starting`);
      if (!(await guarded(b, s, ctx, async () => {
        await s.start();
        await describe(b, s);
        await s.setup(KEEPER, 30000);
      }))) failed.add(s);
    }
    live = live.filter((s) => !failed.has(s));
    for (let k = 1; k <= ctx.sizes.setupIters; k++) {
      for (const s of rotate(live, k)) {
        if (failed.has(s)) continue;
        const ok = await guarded(b, s, ctx, async () => {
          const up = await timed(() => s.setup(k, 10000 + k));
          const down = await timed(() => s.teardown(k));
          b.add('setup', s.name, up.ms);
          b.add('teardown', s.name, down.ms);
          addDaemonSide(b, s, k, 'setup', 'setup');
          addDaemonSide(b, s, k, 'teardown', 'teardown');
        });
        if (!ok) failed.add(s);
      }
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}

export async function metricSequential(ctx: MetricContext, systems: NetSetupSystem[], berth: string[]): Promise<MetricResult> {
  const n = ctx.sizes.seqCount;
  const b = new MetricBuilder({
    id: 'seq',
    title: `2. ${n} sandboxes set up one after another`,
    description:
      `${n} sandboxes set up one after another on one fresh bridge network, each with one published port; ` +
      `the total, the setup time of sandbox #1, #10, #50 and #100 (growth with the number already there), then ` +
      `the total teardown of all of them. One series per system in turn, repeated.`,
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('seq'),
  });
  const marks = [1, 10, 50, 100].filter((m) => m <= n);
  b.measure('total', `total setup of ${n}`, 'ms', 'lower');
  for (const m of marks) b.measure(`at${m}`, `setup of sandbox #${m}`, 'ms', 'lower');
  b.measure('down', `total teardown of ${n}`, 'ms', 'lower');
  const live = await usable(b, systems, ctx);
  const failed = new Set<NetSetupSystem>();
  try {
    for (let r = 0; r < ctx.sizes.seqRepeats; r++) {
      for (const s of rotate(live, r)) {
        if (failed.has(s)) continue;
        ctx.log(`  ${s.name}: series ${r + 1}/${ctx.sizes.seqRepeats}`);
        const ok = await guarded(b, s, ctx, async () => {
          await s.start();
          const each: number[] = [];
          const daemon: (ReturnType<NonNullable<NetSetupSystem['daemonSide']>>)[] = [];
          const total = await timed(async () => {
            for (let i = 1; i <= n; i++) each.push((await timed(() => s.setup(i, 10000 + i))).ms);
          });
          for (let i = 1; i <= n; i++) daemon.push(s.daemonSide?.(i, 'setup'));
          const down = await timed(async () => {
            for (let i = 1; i <= n; i++) await s.teardown(i);
          });
          await s.stop();
          b.add('total', s.name, total.ms);
          for (const m of marks) b.add(`at${m}`, s.name, each[m - 1]!);
          b.add('down', s.name, down.ms);
          if (daemon.every((d) => d !== undefined)) {
            const net = `${s.name}: daemon, network phase`;
            b.add('total', net, daemon.reduce((a, d) => a + d!.net, 0), { afterSystem: s.name, berth: true });
            for (const m of marks) b.add(`at${m}`, net, daemon[m - 1]!.net, { afterSystem: s.name, berth: true });
          }
        });
        if (!ok) failed.add(s);
      }
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}
