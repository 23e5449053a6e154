// Wiring of the firewall and the embedded DNS into the daemon: both follow the state.
import type { Ctx } from './context.js';
import type { Sandboxes } from './sandboxes.js';

export interface Features {
  rules: () => Promise<string>;
  close: () => Promise<void>;
}

export async function wireFeatures(ctx: Ctx, sandboxes: Sandboxes): Promise<Features> {
  void sandboxes;
  return {
    rules: async () => (ctx.cfg.firewall === 'none' ? '# berthd runs with --firewall=none: berth installs no rules\n' : '# the nftables firewall is not wired in yet\n'),
    close: async () => undefined,
  };
}
