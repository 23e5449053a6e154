// The overlay's kernel objects in berthd's namespace: a VXLAN device on a network's bridge, and
// static FDB + neighbour entries for remote endpoints (no multicast, no learning: the device
// answers ARP from its neighbour table, `proxy`).
import type { IfName, Ipv4 } from '../model/types.js';
import type { PeerEntry } from '../plan/overlay-plan.js';
import { type IpBatch, peerFdbBatch, peerNeighBatch, peerOps, vxlanCreateBatch } from '../plan/link-plan.js';
import { ipBatch } from './links.js';
import { netlinkHelper } from './netlink-helper.js';
import { runOk } from './exec.js';

export async function createVxlan(name: IfName, vni: number, local: Ipv4, bridge: IfName, mtu: number): Promise<void> {
  await ipBatch(vxlanCreateBatch(name, vni, local, bridge, mtu));
  // No learning on the bridge side either: a remote MAC is known only from the cluster store,
  // so a dead host's MACs do not linger in the bridge's table for its ageing time (300 s).
  await runOk(['bridge', 'link', 'set', 'dev', name, 'learning', 'off']);
}

/** Removes entries first (a moved endpoint), then adds; `replace` makes additions idempotent.
 * Through the netlink helper: one request for the removals, one for the additions, no process
 * (the two processes below cost 88-103 ms of each change with 10 hosts on this machine,
 * BENCHMARKS.md §11). Without it: one process per kind and direction, whatever the number of entries; the FDB and neighbour
 * processes run side by side (independent tables; DNS names the endpoint only after both).
 * A removal that finds nothing (already gone) is not an error: the FDB batch runs with -force
 * (on past a failed line) and its failure is ignored, the neighbour one flushes (peerNeighBatch). */
export async function programPeers(del: readonly PeerEntry[], add: readonly PeerEntry[]): Promise<void> {
  const nl = netlinkHelper();
  if (nl) {
    // The helper counts an entry or device already gone as removed; any other failure of a
    // removal is ignored as on the batch path (the additions still run).
    if (del.length) await nl.run(peerOps('del', del)).catch(() => undefined);
    if (add.length) await nl.run(peerOps('replace', add));
    return;
  }
  if (del.length) {
    await Promise.all([
      runBatch('ip', peerNeighBatch('del', del), { force: false }).catch(() => undefined),
      runBatch('bridge', peerFdbBatch('del', del), { force: true }).catch(() => undefined),
    ]);
  }
  if (add.length) {
    const [fdb, neigh] = await Promise.allSettled([
      runBatch('bridge', peerFdbBatch('replace', add), { force: false }),
      runBatch('ip', peerNeighBatch('replace', add), { force: false }),
    ]);
    if (fdb.status === 'rejected') throw fdb.reason;
    if (neigh.status === 'rejected') throw neigh.reason;
  }
}

/** `ip|bridge [-force] -batch -` with the lines on stdin (-force: go on past a failed line). */
async function runBatch(tool: 'ip' | 'bridge', lines: IpBatch, opts: { force: boolean }): Promise<void> {
  if (lines.length === 0) return;
  await runOk([tool, ...(opts.force ? ['-force'] : []), '-batch', '-'], { input: lines.join('\n') + '\n' });
}
