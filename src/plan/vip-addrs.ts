// The service VIPs each bridge must hold (as /32 addresses, so that the host answers ARP for
// them and a sandbox's packet to a VIP reaches the host's nat prerouting), and the ip batch
// that moves from one set to another. Pure.
import type { BerthState } from '../model/types.js';

/** "BRIDGE VIP" strings, sorted. */
export function vipAddresses(state: BerthState): string[] {
  const out = new Set<string>();
  for (const svc of Object.values(state.services ?? {})) {
    for (const [netId, vip] of Object.entries(svc.vips)) {
      const bridge = state.networks[netId]?.bridge;
      if (bridge) out.add(`${bridge} ${vip}`);
    }
  }
  return [...out].sort();
}

/** ip -batch lines from `have` to `want` (both "BRIDGE VIP"). */
export function vipAddressBatch(have: readonly string[], want: readonly string[]): string[] {
  const h = new Set(have);
  const w = new Set(want);
  const lines: string[] = [];
  for (const x of h) if (!w.has(x)) lines.push(line('del', x));
  for (const x of w) if (!h.has(x)) lines.push(line('add', x));
  return lines;
}

function line(verb: 'add' | 'del', item: string): string {
  const [bridge, vip] = item.split(' ');
  // noprefixroute-free /32: no route is added, the subnet route of the bridge already covers it.
  return `address ${verb} ${vip}/32 dev ${bridge}`;
}
