// Metric 6: the daemon's memory, idle and with N sandboxes each publishing one port (Docker with its
// default userland proxy: docker-proxy processes are part of its cost).
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { sleep } from '../lib/proc.js';
import { sumMemory, sumRss } from '../lib/procfs.js';
import type { PublishSystem } from '../systems/types.js';
import { describe, guarded, usable, type MetricContext } from './common.js';

const SAMPLES = 3;

export async function metricMemory(ctx: MetricContext, systems: PublishSystem[], berth: string[]): Promise<MetricResult> {
  const n = ctx.sizes.memSandboxes;
  const b = new MetricBuilder({
    id: 'mem',
    title: '6. Daemon memory',
    description:
      `Resident memory (VmRSS) of the daemon (for berth: berthd and its DNS UDP worker processes) idle (started, one network, no sandbox) and with ${n} sandboxes ` +
      `running \`sleep\`, each publishing one port; "with its port proxies" adds docker-proxy processes ` +
      `(berth has none). "Other daemon-side processes" are containerd and the containerd shims for Docker, any ` +
      `helper process for berth (never the sandboxes' own commands). ${SAMPLES} samples 1 s apart per state. ` +
      `"Supervision per sandbox" is those other processes' memory divided by ${n}, as USS (their private ` +
      `pages: what each further sandbox adds) and PSS (shared pages divided among the processes mapping them, ` +
      `machine-wide); RSS would count the shell's or shim's shared binary and libraries once per sandbox. ` +
      `The daemon's PSS rows count what its processes share (berthd and its DNS workers run the same node binary) once.`,
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('mem'),
  });
  b.measure('idle', 'daemon RSS, idle', 'MiB', 'lower');
  b.measure('idlePss', 'daemon PSS, idle', 'MiB', 'lower');
  b.measure('loaded', `daemon RSS, ${n} sandboxes`, 'MiB', 'lower');
  b.measure('loadedPss', `daemon PSS, ${n} sandboxes`, 'MiB', 'lower');
  b.measure('withProxies', `daemon + its port proxies, ${n} sandboxes`, 'MiB', 'lower');
  b.measure('other', `other daemon-side processes, ${n} sandboxes`, 'MiB', 'lower');
  b.measure('supUss', `supervision per sandbox, USS (other daemon-side processes / ${n})`, 'KiB', 'lower');
  b.measure('supPss', `supervision per sandbox, PSS (other daemon-side processes / ${n})`, 'KiB', 'lower');
  b.measure('procs', `daemon-side processes, ${n} sandboxes`, 'processes', 'lower');
  const live = await usable(b, systems, ctx);
  const mib = (kib: number) => kib / 1024;
  try {
    for (const s of live) {
      ctx.log(`  ${s.name}: idle`);
      await guarded(b, s, ctx, async () => {
        await s.start({ userlandProxy: true });
        await describe(b, s);
        await sleep(2000);
        for (let i = 0; i < SAMPLES; i++) {
          const p = await s.daemonProcs();
          b.add('idle', s.name, mib(sumRss(p.daemon).rssKiB));
          b.add('idlePss', s.name, mib(sumMemory(p.daemon).pssKiB));
          await sleep(1000);
        }
        ctx.log(`  ${s.name}: starting ${n} sandboxes`);
        for (let i = 1; i <= n; i++) await s.runWithPorts(`bn-m${i}`, [{ host: 40000 + i, container: 80, count: 1 }]);
        await sleep(2000);
        for (let i = 0; i < SAMPLES; i++) {
          const p = await s.daemonProcs();
          const d = sumRss(p.daemon).rssKiB;
          const px = sumRss(p.proxies).rssKiB;
          b.add('loaded', s.name, mib(d));
          b.add('loadedPss', s.name, mib(sumMemory(p.daemon).pssKiB));
          b.add('withProxies', s.name, mib(d + px));
          b.add('other', s.name, mib(sumRss(p.other).rssKiB));
          const sup = sumMemory(p.other);
          b.add('supUss', s.name, sup.ussKiB / n);
          b.add('supPss', s.name, sup.pssKiB / n);
          b.add('procs', s.name, p.daemon.length + p.proxies.length + p.other.length);
          await sleep(1000);
        }
        await s.stop();
      });
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}
