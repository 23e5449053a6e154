// Metric 2b: N (1,000) sandboxes on one host, set up one after another on one network with one
// published port each: does a setup cost more with N already there (the median of the last ten
// against the median of #6-#15), and, for berth, how long berthd takes to serve again after a
// restart with all N still running (they are adopted, not restarted).
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { timed } from '../lib/proc.js';
import { percentile } from '../lib/stats.js';
import type { NetSetupSystem } from '../systems/types.js';
import { guarded, usable, type MetricContext } from './common.js';

export async function metricScale(ctx: MetricContext, systems: NetSetupSystem[], berth: string[]): Promise<MetricResult> {
  const n = ctx.sizes.scaleCount;
  const b = new MetricBuilder({
    id: 'scale',
    title: `2b. ${n.toLocaleString('en-US')} sandboxes on one host`,
    description:
      `${n} sandboxes set up one after another on one bridge network, one published port each (a Linux bridge ` +
      `takes 1,024 ports). Growth: the setup time of sandbox #10 and #${n}, each as the median of ten around it ` +
      `(#6-#15 and #${n - 9}-#${n}), and their ratio. For berth, berthd is then stopped (SIGTERM: the sandboxes ` +
      `keep running) and started again: the time from its start until its API answers, with all ${n} adopted. ` +
      `Then all are removed one after another. berth only (see bench/README.md, 2b).`,
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('scale'),
  });
  b.measure('at10', 'setup of sandbox #10 (median of #6-#15)', 'ms', 'lower');
  b.measure('atN', `setup of sandbox #${n} (median of #${n - 9}-#${n})`, 'ms', 'lower');
  b.measure('growth', `growth: #${n} / #10`, 'ratio', 'lower');
  b.measure('total', `total setup of ${n}`, 'ms', 'lower');
  b.measure('restart', `daemon restart with ${n} running, until its API answers`, 'ms', 'lower');
  b.measure('down', `total teardown of ${n}`, 'ms', 'lower');
  const live = await usable(b, systems, ctx);
  try {
    for (const s of live) {
      ctx.log(`  ${s.name}: ${n} sandboxes`);
      await guarded(b, s, ctx, async () => {
        await s.start();
        const each: number[] = [];
        const total = await timed(async () => {
          for (let i = 1; i <= n; i++) {
            each.push((await timed(() => s.setup(i, 10000 + i))).ms);
            if (i % 100 === 0) ctx.log(`    ${i}: ${each[i - 1]!.toFixed(1)} ms`);
          }
        });
        const at10 = percentile(each.slice(5, 15), 50)!;
        const atN = percentile(each.slice(n - 10, n), 50)!;
        b.add('at10', s.name, at10);
        b.add('atN', s.name, atN);
        b.add('growth', s.name, atN / at10);
        b.add('total', s.name, total.ms);
        if (s.restartDaemon) {
          const r = await s.restartDaemon();
          if (r.running !== n) throw new Error(`after the restart berthd lists ${r.running} of ${n} sandboxes as running`);
          b.add('restart', s.name, r.ms);
          ctx.log(`    restart: ${r.ms.toFixed(0)} ms, ${r.running} running`);
        }
        const down = await timed(async () => {
          for (let i = 1; i <= n; i++) await s.teardown(i);
        });
        b.add('down', s.name, down.ms);
        await s.stop();
      });
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}
