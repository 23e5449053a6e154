// Metric 5: the embedded DNS server answering sandbox names, measured with dnsperf from inside a sandbox
// on the same network: the highest rate served with no query lost, and p50/p99 latency at a fixed rate.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORK_ROOT } from '../lib/lab.js';
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { run, waitFor } from '../lib/proc.js';
import { percentile } from '../lib/stats.js';
import type { DnsSystem } from '../systems/types.js';
import { describe, guarded, rotate, usable, type MetricContext } from './common.js';

interface PerfResult {
  qps: number;
  sent: number;
  lost: number;
  latencies: number[];
}

async function dnsperf(s: DnsSystem, file: string, seconds: number, rate?: number, verbose = false): Promise<PerfResult> {
  const argv = ['dnsperf', '-s', s.serverIp, '-d', file, '-l', String(seconds), '-c', '1', '-T', '1', '-q', '100', '-t', '1'];
  if (rate) argv.push('-Q', String(rate));
  if (verbose) argv.push('-v');
  const r = await run(s.dnsClientCmd(argv), { timeoutMs: (seconds + 30) * 1000 });
  const num = (re: RegExp): number => Number(r.stdout.match(re)?.[1]);
  const latencies: number[] = [];
  if (verbose) {
    for (const line of r.stdout.split('\n')) {
      const m = line.match(/^> NOERROR \S+ \S+ ([\d.]+)/);
      if (m) latencies.push(Number(m[1]) * 1000);
    }
  }
  const res = { qps: num(/Queries per second:\s+([\d.]+)/), sent: num(/Queries sent:\s+(\d+)/), lost: num(/Queries lost:\s+(\d+)/), latencies };
  if (!Number.isFinite(res.qps) || !Number.isFinite(res.lost)) throw new Error(`dnsperf output not understood: ${r.stdout.slice(-400)}`);
  return res;
}

export async function metricDns(ctx: MetricContext, systems: DnsSystem[], berth: string[]): Promise<MetricResult> {
  const sz = ctx.sizes;
  const names = Array.from({ length: sz.dnsNames }, (_, i) => `bn-d${i + 1}`);
  const b = new MetricBuilder({
    id: 'dns',
    title: '5. DNS: sandbox names served by the embedded resolver',
    description:
      `${names.length} sandboxes on one network; dnsperf (1 client, up to 100 queries outstanding, 1 s timeout) ` +
      `runs inside the first sandbox and asks for their A records in turn. Throughput: the rate of a ` +
      `${sz.dnsSeconds} s unthrottled run, stepped down by 20% until no query is lost. Latency: every query of a ` +
      `${sz.dnsSeconds} s run at a fixed ${sz.dnsRate.toLocaleString('en-US')} q/s. The load generator and the ` +
      `server share the machine's cores.`,
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('dns'),
  });
  b.measure('qps', 'queries/s with 0 lost', 'q/s', 'higher');
  b.measure('p50', `p50 latency at ${sz.dnsRate} q/s`, 'ms', 'lower');
  b.measure('p99', `p99 latency at ${sz.dnsRate} q/s`, 'ms', 'lower');
  b.measure('lost', `queries lost at ${sz.dnsRate} q/s`, 'queries', 'lower');
  const file = join(WORK_ROOT, 'dns-queries.txt');
  writeFileSync(file, names.map((n) => `${n} A\n`).join(''));
  let live = await usable(b, systems, ctx);
  const failed = new Set<DnsSystem>();
  try {
    for (const s of live) {
      ctx.log(`  ${s.name}: starting ${names.length} sandboxes`);
      const ok = await guarded(b, s, ctx, async () => {
        await s.start(names);
        await describe(b, s);
        // Every name must answer before measuring (aardvark-dns 1.4 can go silent for seconds after a reload).
        const t0 = Date.now();
        await waitFor(`${s.name} to answer for ${names.join(', ')}`, async () => {
          for (const n of names) {
            const r = await run(s.dnsClientCmd(['dig', '+short', '+time=1', '+tries=1', `@${s.serverIp}`, n, 'A']), { check: false });
            if (!/^\d+\.\d+\.\d+\.\d+$/m.test(r.stdout)) return false;
          }
          return true;
        }, ctx.quick ? 15_000 : 60_000, 250);
        const waited = (Date.now() - t0) / 1000;
        if (waited > 2) b.note(`${s.name}: the names answered only ${waited.toFixed(1)} s after the last sandbox was set up.`);
      });
      if (!ok) failed.add(s);
    }
    live = live.filter((s) => !failed.has(s));
    for (let r = 0; r < sz.dnsRounds; r++) {
      for (const s of rotate(live, r)) {
        if (failed.has(s)) continue;
        const ok = await guarded(b, s, ctx, async () => {
          let rate: number | undefined;
          let best: number | undefined;
          for (let attempt = 0; attempt < 4; attempt++) {
            const res = await dnsperf(s, file, sz.dnsSeconds, rate);
            if (res.lost === 0) {
              best = res.qps;
              break;
            }
            rate = Math.floor(res.qps * 0.8);
          }
          if (best !== undefined) b.add('qps', s.name, best);
          else b.note(`${s.name}, round ${r + 1}: queries were lost at every rate tried`);
          const fixed = await dnsperf(s, file, sz.dnsSeconds, sz.dnsRate, true);
          b.add('p50', s.name, percentile(fixed.latencies, 50) ?? NaN);
          b.add('p99', s.name, percentile(fixed.latencies, 99) ?? NaN);
          b.add('lost', s.name, fixed.lost);
        });
        if (!ok) failed.add(s);
      }
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}
