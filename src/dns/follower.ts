// The glue berthd uses: on every state change make a new DNS view (incrementally) and listen on the gateways of
// the DNS-enabled networks. It has the shape of the daemon's StateFollower (sync/reconcile).
import type { BerthState } from '../model/types.js';
import type { HostService } from '../model/host-service.js';
import { dnsAddresses, DnsViewBuilder, type DnsViewOptions } from '../plan/dns-view.js';
import type { DnsServer } from './server.js';
import type { LogFn } from './upstreams.js';

export class DnsFollower {
  /** Syncs at the same time as the firewall (Ctx.follow): neither reads what the other makes. */
  readonly independent = true;
  /** Keeps the sandboxes' names between changes: a change costs what it touches. */
  private readonly views = new DnsViewBuilder();

  constructor(
    private readonly server: DnsServer,
    private readonly hostServices: readonly HostService[] = [],
    private readonly log: LogFn = () => {},
    /** Options of each view (Consul names, other hosts' sandboxes), read at every sync. */
    private readonly opts: () => DnsViewOptions = () => ({}),
  ) {}

  /**
   * Swap in the view of `state`, then add/remove listening sockets. Never throws for an address
   * that cannot be bound yet (it is logged and retried by the server): DNS trouble must not roll
   * back a network or sandbox change.
   */
  async sync(state: BerthState): Promise<void> {
    const opts = this.opts();
    const view = this.views.view(state, this.hostServices, opts);
    const changed = this.views.lastChanged;
    await this.server.setView(view, { state, hostServices: this.hostServices, opts, ...(changed ? { changed } : {}) });
    const r = await this.server.setAddresses(dnsAddresses(state));
    for (const f of r.failed) this.log('warn', `dns: not yet listening on ${f.ip}: ${f.error} (retrying)`);
  }

  reconcile(state: BerthState): Promise<void> {
    return this.sync(state);
  }
}
