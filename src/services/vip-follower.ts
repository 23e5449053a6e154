// Follows state: every service VIP is a /32 address on its network's bridge (plan/vip-addrs.ts).
// At start it reconciles with what the bridges hold: /32 addresses on berth bridges are berth's
// VIPs (a bridge's own gateway address carries the subnet's prefix length).
import { ipBatch, listAddresses } from '../kernel/links.js';
import type { BerthState } from '../model/types.js';
import type { StateFollower } from '../daemon/context.js';
import { vipAddresses } from '../plan/vip-addrs.js';
import { vipAddressBatch } from '../plan/link-plan.js';

export class VipFollower implements StateFollower {
  private applied: string[] = [];

  async sync(state: BerthState): Promise<void> {
    const want = vipAddresses(state);
    const lines = vipAddressBatch(this.applied, want);
    if (lines.length === 0) return;
    await ipBatch(lines);
    this.applied = want;
  }

  async reconcile(state: BerthState): Promise<void> {
    const bridges = new Set<string>(Object.values(state.networks).flatMap((n) => (n.bridge ? [n.bridge] : [])));
    const have: string[] = [];
    for (const [dev, addrs] of await listAddresses()) {
      if (!bridges.has(dev)) continue;
      for (const a of addrs) if (a.len === 32) have.push(`${dev} ${a.ip}`);
    }
    this.applied = have;
    await this.sync(state);
  }
}
