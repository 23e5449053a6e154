// At every start berthd makes the kernel and the store agree: operations a crash cut off are
// finished (networks) or repaired (endpoints; a launch whose PID was not yet recorded is found
// by its shim); sandboxes whose process or namespace is gone are released; interfaces, namespaces and files with berth's names that no
// live object owns are removed; bridges that should exist are recreated. Then the firewall and
// DNS are rebuilt in full. Nothing leaks, nothing is allocated twice.
import { parseIfName } from '../model/net-values.js';
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { deleteNetns, listNetns, mountPoints, netnsExists } from '../kernel/netns.js';
import { deleteLink, listLinks } from '../kernel/links.js';
import { findShim, isAlive, nsOf, startTimeOf } from '../runtime/proc.js';
import type { SandboxRecord } from '../model/types.js';
import type { Ctx } from './context.js';
import { ensureBridges, ensureBuiltins } from './networks.js';
import { attachEndpoint, ownsNetns } from './sandbox-net.js';
import type { Sandboxes } from './sandboxes.js';

const OWNED_LINK = /^(berth0|berth-[0-9a-f]{9}|bv[0-9a-f]{12})$/;

export async function reconcile(ctx: Ctx, sandboxes: Sandboxes): Promise<void> {
  await ctx.lock.run(async () => {
    await finishPendingNetworks(ctx);
    ensureBuiltins(ctx);
    await ensureBridges(ctx);
    const links = new Set((await listLinks()).map((l) => l.ifname));
    const mounts = await mountPoints();

    for (const sb of Object.values(ctx.state.sandboxes)) {
      if (sb.state.status !== 'running') continue;
      await findLaunched(ctx, sb);
      const alive = sb.state.pid > 0 && (await isAlive(sb.state.pid, sb.state.pidStartTime));
      const nsOk = !ownsNetns(sb) || (await netnsExists(ctx.netnsPath(sb.id), mounts));
      if (alive && nsOk) {
        await repairEndpoints(ctx, sb, links);
        ctx.log('info', `sandbox ${sb.name} is still running (pid ${sb.state.pid}): adopted`);
        continue;
      }
      const why = !alive ? 'its process is gone' : 'its network namespace is gone';
      ctx.log('warn', `sandbox ${sb.name} was running but ${why}: releasing it`);
      await sandboxes.releaseLocked(sb, `released at berthd start: ${why}`, false);
    }
    // Interfaces with berth's names that no live object owns, from the list read above: one
    // `ip -j link show` less (0.1-0.3 s with a thousand sandboxes). A veth that went with a
    // namespace released just now is wanted by no one and already gone: deleting it fails quietly.

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

    // Reconcile changes records in many places: write every one that differs from the store.
    ctx.touchAllChanged();
    await ctx.persist();
    for (const f of ctx.followers) await (f.reconcile ? f.reconcile(ctx.state) : f.sync(ctx.state));
  });
}

/** A network create or remove that a crash cut off: the client never got an answer, so the
 * network goes, with its bridge if it was made (its name, custom or not, is in the record). */
async function finishPendingNetworks(ctx: Ctx): Promise<void> {
  for (const net of Object.values(ctx.state.networks)) {
    if (!net.pending) continue;
    if (net.bridge) await deleteLink(net.bridge);
    delete ctx.state.networks[net.id];
    ctx.touch(net);
    ctx.log('warn', `network ${net.name}: its ${net.pending} was cut off by a crash: removed${net.bridge ? ` (bridge ${net.bridge})` : ''}`);
  }
}

/**
 * A running sandbox whose command PID is not recorded: berthd stopped between spawning the
 * shim and hearing from it. Find the shim (by its recorded PID, or else by its argv, which
 * names the sandbox's directory) and read the command's PID from the file the shim writes.
 */
async function findLaunched(ctx: Ctx, sb: SandboxRecord): Promise<void> {
  if (sb.state.pid) return;
  if (!sb.state.shimPid) {
    const shim = findShim(ctx.sandboxDir(sb.id));
    if (!shim) return;
    sb.state = { ...sb.state, shimPid: shim, shimStartTime: await startTimeOf(shim) };
    ctx.touch(sb);
    ctx.log('info', `sandbox ${sb.name}: found its shim (pid ${shim}), spawned just before berthd stopped`);
  }
  if (!sb.state.shimStartTime) return;
  const pidFile = join(ctx.sandboxDir(sb.id), 'pid');
  // The shim may be a few milliseconds from writing it: wait while it lives, 5 s at most.
  const deadline = Date.now() + 5000;
  let pidText = '';
  while (!(pidText = (await readFile(pidFile, 'utf8').catch(() => '')).trim())) {
    if (Date.now() > deadline || !(await isAlive(sb.state.shimPid, sb.state.shimStartTime))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!(await isAlive(sb.state.shimPid, sb.state.shimStartTime))) return;
  const pid = Number(pidText);
  sb.state = { ...sb.state, pid, pidStartTime: await startTimeOf(pid), mntNs: await nsOf(sb.state.shimPid, 'mnt') };
  ctx.touch(sb);
}

/**
 * Endpoints of an adopted sandbox that are missing in the kernel (their veth is gone) or
 * half-made (a connect was cut off: marked pending) are rebuilt; one that cannot be is
 * dropped from the record. The sandbox itself keeps running either way.
 */
async function repairEndpoints(ctx: Ctx, sb: SandboxRecord, links: Set<string>): Promise<void> {
  for (const ep of Object.values(sb.endpoints)) {
    const net = ctx.state.networks[ep.networkId];
    if (!net || net.driver !== 'bridge' || !ep.hostIfName) continue;
    if (!ep.pending && links.has(ep.hostIfName)) continue;
    const why = ep.pending ? 'a connect was cut off while building it' : `its interface ${ep.hostIfName} was gone`;
    ctx.touch(sb);
    try {
      await deleteLink(ep.hostIfName); // a half-made pair goes whole (both ends), then start over
      await attachEndpoint(ctx, sb, net, ep);
      delete ep.pending;
      ctx.log('warn', `sandbox ${sb.name}: endpoint on ${net.name} rebuilt (${why})`);
    } catch (err) {
      await deleteLink(ep.hostIfName);
      delete sb.endpoints[net.id];
      const i = sb.config.networks.findIndex((n) => n.networkId === net.id);
      if (i >= 0) sb.config.networks.splice(i, 1);
      if (i === 0) sb.config.networkMode = sb.config.networks[0] ? (ctx.state.networks[sb.config.networks[0].networkId]?.name ?? 'none') : 'none';
      ctx.log('warn', `sandbox ${sb.name}: endpoint on ${net.name} dropped (${why}; rebuilding it failed: ${(err as Error).message})`);
    }
  }
}
