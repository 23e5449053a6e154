// Metric 7: `-P` with many exposed ports (2,000 by default) through berth's API, and the latency
// of the embedded DNS while it runs. berthd serves DNS on the same event loop that allocates
// the host ports, plans the firewall elements and writes the state: a long synchronous step
// shows up as DNS queries answered late. A prober inside a sandbox sends an A query every 2 ms
// for the whole round; queries sent while the create+start request was in flight give the
// "during" latencies, those sent in the second before it the "idle" ones. berth only: a Docker
// with its userland proxy would start 4,000 docker-proxy processes for this.
import { join } from 'node:path';
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { run, sleep } from '../lib/proc.js';
import { percentile } from '../lib/stats.js';
import type { BerthSystem } from '../systems/berth.js';
import { describe, guarded, usable, type MetricContext } from './common.js';

const PROBER = join(import.meta.dirname, '..', 'lib', 'dns-prober.js');

export async function metricPublishAll(ctx: MetricContext, systems: BerthSystem[], berth: string[]): Promise<MetricResult> {
  const sz = ctx.sizes;
  const n = sz.publishAllPorts;
  const b = new MetricBuilder({
    id: 'pall',
    title: `7. \`-P\` with ${n.toLocaleString('en-US')} exposed ports, and DNS latency meanwhile`,
    description:
      `One sandbox with ${n.toLocaleString('en-US')} exposed tcp ports and PublishAllPorts (\`berth run -d -P --expose ` +
      `10000-${10000 + n - 1}\`), created and started through the API on a network that already holds the DNS ` +
      'client sandbox; timed until start returns (ports allocated, firewall elements applied, process running), ' +
      'then removed. Meanwhile a prober in the client sandbox sends one A query every 2 ms to the embedded DNS: ' +
      'p99 and max latency of the queries sent while the request was in flight, and p99 of those sent in the ' +
      'second before it (idle).',
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('pall'),
  });
  b.measure('start', `create + start with -P, ${n} ports (API)`, 'ms', 'lower');
  b.measure('rm', `remove it (API, force)`, 'ms', 'lower');
  b.measure('p99during', 'DNS p99 latency during create + start', 'ms', 'lower');
  b.measure('maxduring', 'DNS max latency during create + start', 'ms', 'lower');
  b.measure('p99idle', 'DNS p99 latency in the second before (idle)', 'ms', 'lower');
  b.measure('lost', 'DNS queries lost during create + start', 'queries', 'lower');
  const live = await usable(b, systems, ctx);
  try {
    for (const s of live) {
      const ok = await guarded(b, s, ctx, async () => {
        await s.start(['bn-p1']);
        await describe(b, s);
        for (let r = 1; r <= sz.publishAllRounds; r++) {
          const seconds = 3;
          const prober = run(
            s.dnsClientCmd([process.execPath, PROBER, '--server', s.serverIp, '--name', 'bn-p1', '--interval-ms', '2', '--seconds', String(seconds)]),
            { timeoutMs: (seconds + 20) * 1000 },
          );
          await sleep(1200); // an idle second of queries first
          const t0 = performance.timeOrigin + performance.now();
          const ms = await s.publishAll(`bn-pall${r}`, 10000, n);
          const t1 = performance.timeOrigin + performance.now();
          const out = (await prober).stdout.trim().split('\n').pop() ?? '';
          const rm0 = performance.now();
          await s.remove(`bn-pall${r}`);
          b.add('rm', s.name, performance.now() - rm0);
          const probe = JSON.parse(out) as { sent: number[]; ms: number[] };
          const during = probe.ms.filter((_, k) => probe.sent[k]! >= t0 && probe.sent[k]! <= t1);
          const idle = probe.ms.filter((_, k) => probe.sent[k]! >= t0 - 1000 && probe.sent[k]! < t0 && probe.ms[k]! >= 0);
          if (t1 > probe.sent[probe.sent.length - 1]!) b.note(`round ${r}: the request outlasted the prober (${(t1 - t0).toFixed(0)} ms): latencies cover only its start`);
          const answered = during.filter((x) => x >= 0);
          b.add('start', s.name, ms);
          b.add('p99during', s.name, percentile(answered, 99) ?? NaN);
          b.add('maxduring', s.name, Math.max(...answered));
          b.add('p99idle', s.name, percentile(idle, 99) ?? NaN);
          b.add('lost', s.name, during.length - answered.length);
          ctx.log(`  ${s.name} round ${r}: ${ms.toFixed(0)} ms; DNS during: ${during.length} queries, p99 ${percentile(answered, 99)?.toFixed(2)} ms, max ${Math.max(...answered).toFixed(2)} ms`);
        }
      });
      if (!ok) continue;
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}
