// The overlay's kernel objects in berthd's namespace: a VXLAN device on a network's bridge, and
// static FDB + neighbour entries for remote endpoints (no multicast, no learning: the device
// answers ARP from its neighbour table, `proxy`).
import type { IfName, Ipv4 } from '../model/types.js';
import type { PeerEntry } from '../plan/overlay-plan.js';
import { vxlanCreateBatch } from '../plan/link-plan.js';
import { ipBatch } from './links.js';
import { runOk } from './exec.js';

export async function createVxlan(name: IfName, vni: number, local: Ipv4, bridge: IfName, mtu: number): Promise<void> {
  await ipBatch(vxlanCreateBatch(name, vni, local, bridge, mtu));
  // No learning on the bridge side either: a remote MAC is known only from the cluster store,
  // so a dead host's MACs do not linger in the bridge's table for its ageing time (300 s).
  await runOk(['bridge', 'link', 'set', 'dev', name, 'learning', 'off']);
}

/** Removes entries first (a moved endpoint), then adds; `replace` makes additions idempotent. */
export async function programPeers(del: readonly PeerEntry[], add: readonly PeerEntry[]): Promise<void> {
  for (const p of del) {
    await runOk(['ip', 'neigh', 'del', p.ip, 'dev', p.vxlan]).catch(() => undefined);
    await runOk(['bridge', 'fdb', 'del', p.mac, 'dev', p.vxlan, 'dst', p.vtep, 'self']).catch(() => undefined);
  }
  for (const p of add) {
    await runOk(['bridge', 'fdb', 'replace', p.mac, 'dev', p.vxlan, 'dst', p.vtep, 'self', 'permanent']);
    await runOk(['ip', 'neigh', 'replace', p.ip, 'lladdr', p.mac, 'dev', p.vxlan, 'nud', 'permanent']);
  }
}
