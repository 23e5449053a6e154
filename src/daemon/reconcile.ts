// At every start berthd makes the kernel and the store agree: sandboxes whose process or
// namespace is gone are released; interfaces, namespaces and files with berth's names that no
// live object owns are removed; bridges that should exist are recreated. Then the firewall and
// DNS are rebuilt in full. Nothing leaks, nothing is allocated twice.
import { parseIfName } from '../model/net-values.js';
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { deleteNetns, listNetns, netnsExists } from '../kernel/netns.js';
import { deleteLink, listLinks } from '../kernel/links.js';
import { isAlive, nsOf, startTimeOf } from '../runtime/proc.js';
import type { Ctx } from './context.js';
import { ensureBridges, ensureBuiltins } from './networks.js';
import { ownsNetns } from './sandbox-net.js';
import type { Sandboxes } from './sandboxes.js';

const OWNED_LINK = /^(berth0|berth-[0-9a-f]{9}|bv[0-9a-f]{12})$/;

export async function reconcile(ctx: Ctx, sandboxes: Sandboxes): Promise<void> {
  await ctx.lock.run(async () => {
    ensureBuiltins(ctx);
    await ensureBridges(ctx);
    const links = new Set((await listLinks()).map((l) => l.ifname));

    for (const sb of Object.values(ctx.state.sandboxes)) {
      if (sb.state.status !== 'running') continue;
      if (!sb.state.pid && sb.state.shimPid) {
        // berthd stopped between starting the shim and hearing the command's PID: read it now.
        const pidText = (await readFile(join(ctx.sandboxDir(sb.id), 'pid'), 'utf8').catch(() => '')).trim();
        if (pidText && sb.state.shimStartTime && (await isAlive(sb.state.shimPid, sb.state.shimStartTime))) {
          const pid = Number(pidText);
          sb.state = { ...sb.state, pid, pidStartTime: await startTimeOf(pid), mntNs: await nsOf(sb.state.shimPid, 'mnt') };
        }
      }
      const alive = sb.state.pid > 0 && (await isAlive(sb.state.pid, sb.state.pidStartTime));
      const nsOk = !ownsNetns(sb) || (await netnsExists(ctx.netnsPath(sb.id)));
      const missing = Object.values(sb.endpoints).filter(
        (e) => ctx.state.networks[e.networkId]?.driver === 'bridge' && e.hostIfName && !links.has(e.hostIfName),
      );
      if (alive && nsOk && missing.length === 0) {
        ctx.log('info', `sandbox ${sb.name} is still running (pid ${sb.state.pid}): adopted`);
        continue;
      }
      const why = !alive ? 'its process is gone' : !nsOk ? 'its network namespace is gone' : `interface ${missing[0]!.hostIfName} is gone`;
      ctx.log('warn', `sandbox ${sb.name} was running but ${why}: releasing it`);
      await sandboxes.releaseLocked(sb, `released at berthd start: ${why}`, false);
    }

    // Interfaces with berth's names that no live object owns.
    const wanted = new Set<string>();
    for (const n of Object.values(ctx.state.networks)) if (n.bridge) wanted.add(n.bridge);
    for (const sb of Object.values(ctx.state.sandboxes)) for (const e of Object.values(sb.endpoints)) if (e.hostIfName) wanted.add(e.hostIfName);
    for (const name of links) {
      if (OWNED_LINK.test(name) && !wanted.has(name)) {
        ctx.log('info', `removing stray interface ${name}`);
        await deleteLink(parseIfName(name)); // it matched OWNED_LINK: berth0, berth-*, bv*
      }
    }
    // Namespaces and sandbox directories that no record owns.
    const liveNs = new Set(
      Object.values(ctx.state.sandboxes)
        .filter((s) => s.state.status === 'running' && ownsNetns(s))
        .map((s) => ctx.netnsPath(s.id)),
    );
    for (const ns of await listNetns(join(ctx.cfg.execRoot, 'netns'))) {
      if (!liveNs.has(ns)) {
        ctx.log('info', `removing stray namespace ${basename(ns)}`);
        await deleteNetns(ns);
      }
    }
    const dirs = await readdir(join(ctx.cfg.dataRoot, 'sandboxes')).catch(() => [] as string[]);
    for (const d of dirs) if (!ctx.state.sandboxes[d]) await rm(join(ctx.cfg.dataRoot, 'sandboxes', d), { recursive: true, force: true });

    await ctx.persist();
    for (const f of ctx.followers) await (f.reconcile ? f.reconcile(ctx.state) : f.sync(ctx.state));
  });
}
