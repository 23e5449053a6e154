// Metric 3: `run -d -p HOST:80` end to end through each system's CLI (wall time of the CLI process until
// it returns with the sandbox running), then `rm -f`. Systems alternate every iteration.
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { run, timed } from '../lib/proc.js';
import type { RunSystem } from '../systems/types.js';
import { describe, errText, guarded, rotate, usable, type MetricContext } from './common.js';

/** Node.js starting and doing nothing: the floor under berth's CLI, in the run and ps tables. */
const NODE_START = 'node -e 0';

export async function metricRun(ctx: MetricContext, systems: RunSystem[], berth: string[]): Promise<MetricResult> {
  const b = new MetricBuilder({
    id: 'run',
    title: '3. `run -d -p` end to end',
    description:
      'Wall time of one CLI command that creates and starts a detached sandbox running `sleep` on a user ' +
      'bridge network with one published port (`berth run -d --network N -p H:80 -- sleep 3600`, ' +
      '`docker run -d --network N -p H:80 bn-bb:1 sleep 3600` (the Debian 20.10 CLI, against dockerd and, as ' +
      '"berth (docker CLI)", against berthd\'s Docker API with the same image imported), `podman run -d --network N -p H:80 --rootfs DIR ' +
      'sleep 3600`), then of `rm -f` of it, and of `ps` (the floor: starting the CLI and one API round trip). ' +
      'Daemons are started before and are not timed. "node -e 0" is Node.js starting and doing nothing, timed ' +
      'once per round the same way: the floor under any CLI written for Node (berth\'s targets are ratios to it).',
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('run'),
  });
  b.measure('run', 'run -d -p (CLI, to running)', 'ms', 'lower');
  b.measure('rm', 'rm -f (CLI)', 'ms', 'lower');
  b.measure('floor', 'CLI call that changes nothing (`ps`)', 'ms', 'lower');
  let live = await usable(b, systems, ctx);
  const failed = new Set<RunSystem>();
  try {
    for (const s of live) {
      ctx.log(`  ${s.name}: starting`);
      if (!(await guarded(b, s, ctx, async () => {
        await s.start();
        await describe(b, s);
      }))) failed.add(s);
    }
    live = live.filter((s) => !failed.has(s));
    for (let k = 1; k <= ctx.sizes.runIters; k++) {
      for (const s of rotate(live, k)) {
        if (failed.has(s)) continue;
        const ok = await guarded(b, s, ctx, async () => {
          let name = `bn-r${k}`;
          let up: { ms: number };
          try {
            up = await timed(() => s.runDetached(name, 18000 + k));
          } catch (e) {
            // One retry, said in the report: a single failure under load should not drop a whole system.
            b.note(`${s.name}: run ${k} failed and was retried once: ${errText(e)}`);
            await s.remove(name).catch(() => {});
            name = `bn-r${k}b`;
            up = await timed(() => s.runDetached(name, 18500 + k));
          }
          const down = await timed(() => s.remove(name));
          const floor = await timed(() => s.cliFloor());
          b.add('run', s.name, up.ms);
          b.add('rm', s.name, down.ms);
          b.add('floor', s.name, floor.ms);
        });
        if (!ok) failed.add(s);
      }
      const bare = await timed(() => run([process.execPath, '-e', '0']));
      for (const m of ['run', 'floor']) b.add(m, NODE_START, bare.ms);
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}
