// The service VIPs each bridge must hold (as /32 addresses, so that the host answers ARP for
// them and a sandbox's packet to a VIP reaches the host's nat prerouting). The ip batch that
// moves from one set to another is link-plan.ts's vipAddressBatch. Pure.
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
