// Overlay networks on this host, following the cluster store (docs/overlay.md).
//
// An overlay network is, on every host, a bridge network like any other (same id, subnet and
// gateway everywhere; the firewall, ICC, internal, masquerade and the embedded DNS treat it as
// one) plus a VXLAN port on its bridge. What comes from etcd:
//   - the networks (/berth/networks/): made or removed locally as they appear or go;
//   - the endpoints of other hosts (/berth/endpoints/): static FDB + neighbour entries on the
//     VXLAN device, and names for the embedded DNS.
// Everything is driven by one function, apply(): the wanted state from the latest snapshot (list
// at a revision, then kept current by the watch), diffed against what this host has. A watch that
// cannot resume (compacted) just lists again: the diff does the rest, without leaks or duplicates.
// With etcd unreachable nothing is torn down: the kernel keeps what it has and DNS answers from
// the last snapshot.
import { BadRequest, Conflict } from '../model/errors.js';
import { newNetworkId } from '../model/ids.js';
import { parseIpv4 } from '../model/net-values.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import { defaultGateway, planSubnet } from '../ipam/allocator.js';
import { deleteLink, linkExists } from '../kernel/links.js';
import { createVxlan, programPeers } from '../kernel/vxlan.js';
import { desiredPeers, diffPeers, hostBridgeMac, type OverlayEndpoint, type OverlayNetworkSpec, pickOverlaySubnet, pickVni, type PeerEntry, VXLAN_OVERHEAD, vxlanNameFor } from '../plan/overlay-plan.js';
import { type ClusterStore, ENDPOINTS_PREFIX, endpointKey, NETLOCK_KEY, NETWORKS_PREFIX } from '../store/cluster-store.js';
import type { Ctx, OverlayHooks } from './context.js';
import { PhaseTimer } from './phase-timer.js';
import { boolOption, bridgeNameFor, createBridge, OPT_ICC, OPT_MTU } from './networks.js';
import type { CreateNetworkInput } from './schema/network-schemas.js';

/** More of the cluster's state, applied after the networks and peers (services across hosts). */
export interface OverlayExtension {
  apply(kvs: ReadonlyMap<string, string>): Promise<void>;
}

export class Overlay implements OverlayHooks {
  private kvs = new Map<string, string>();
  extension: OverlayExtension | undefined;
  private peers: PeerEntry[] = [];
  private remoteEps: OverlayEndpoint[] = [];
  private applying: Promise<void> = Promise.resolve();
  private again = false;
  private running = false;
  private releaseTimer: NodeJS.Timeout | undefined;
  /** Overlay networks whose bridge and VXLAN device were checked (or made) since the last full
   * list: checked again after a relist or restart, not at every endpoint change (two `ip`
   * processes per network per change were about half of a change's time with 10 hosts on one
   * busy machine; BENCHMARKS.md §11). */
  private readonly devicesChecked = new Set<string>();

  constructor(
    private readonly ctx: Ctx,
    private readonly store: ClusterStore,
  ) {}

  private get self(): string {
    return this.store.cfg.nodeName;
  }

  /** Lists, applies, then watches from the listed revision. Retries in the background while
   * etcd is unreachable (local networks keep working meanwhile). */
  async start(): Promise<void> {
    this.devicesChecked.clear();
    try {
      const snap = await this.store.snapshot();
      this.kvs = snap.kvs;
      await this.reclaimLocal();
      await this.schedule();
      this.store.watch(snap.revision, (k, v) => this.onChange(k, v), () => void this.relist());
    } catch (e) {
      this.ctx.log('warn', `overlay: cannot list the cluster store yet (${(e as Error).message}); retrying`);
      setTimeout(() => void this.start(), 1000).unref();
    }
  }

  /** After a berthd restart: the endpoints of sandboxes still running here were on the previous
   * berthd's lease; claim them again on ours (the same sandbox's claim is taken over). */
  private async reclaimLocal(): Promise<void> {
    for (const sb of Object.values(this.ctx.state.sandboxes)) {
      for (const ep of Object.values(sb.endpoints)) {
        const net = this.ctx.state.networks[ep.networkId];
        if (!net?.overlay || !ep.ip || this.store.ownedKeys().includes(endpointKey(net.id, ep.ip))) continue;
        if (!(await this.claim(net, sb, ep))) this.ctx.log('error', `overlay: ${sb.name}'s address ${ep.ip} on ${net.name} is held by another host's sandbox`);
      }
    }
  }

  private async relist(): Promise<void> {
    await this.start();
  }

  private onChange(key: string, value: string | undefined): void {
    if (value === undefined) this.kvs.delete(key);
    else this.kvs.set(key, value);
    if (key !== NETLOCK_KEY) void this.schedule();
  }

  /** What this host wrote to the cluster store, known before the watch brings it back (so an
   * apply in between does not undo it). */
  remember(key: string, value: string | undefined): void {
    if (value === undefined) this.kvs.delete(key);
    else this.kvs.set(key, value);
  }

  /** Runs apply(), coalescing changes that arrive while one runs. */
  private schedule(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.applying;
    }
    this.running = true;
    this.applying = (async () => {
      do {
        this.again = false;
        try {
          await this.ctx.lock.run(() => this.apply());
        } catch (e) {
          this.ctx.log('error', `overlay: applying the cluster state failed: ${(e as Error).message}`);
        }
      } while (this.again);
      this.running = false;
    })();
    return this.applying;
  }

  private parsed<T>(prefix: string): T[] {
    const out: T[] = [];
    for (const [k, v] of this.kvs) {
      if (!k.startsWith(prefix)) continue;
      try {
        out.push(JSON.parse(v) as T);
      } catch {
        this.ctx.log('warn', `overlay: ignoring ${k}: not JSON`);
      }
    }
    return out;
  }

  /** Brings local networks, FDB/neighbour entries and the DNS names in line with the snapshot. */
  private async apply(): Promise<void> {
    const ctx = this.ctx;
    const timer = new PhaseTimer(); // where a change's time goes (bench/multihost.ts reads it)
    const specs = new Map(this.parsed<OverlayNetworkSpec>(NETWORKS_PREFIX).map((s) => [s.id, s]));
    let changed = false;
    for (const spec of specs.values()) {
      if (ctx.state.networks[spec.id]) {
        if (!this.devicesChecked.has(spec.id)) await this.ensureDevices(ctx.state.networks[spec.id]!);
        continue;
      }
      const clash = Object.values(ctx.state.networks).find((n) => n.name === spec.name);
      if (clash) {
        ctx.log('warn', `overlay: network ${spec.name} (${spec.id.slice(0, 12)}) not made here: a local network has that name`);
        continue;
      }
      await this.materialize(spec);
      changed = true;
    }
    for (const net of Object.values(ctx.state.networks)) {
      if (!net.overlay || specs.has(net.id)) continue;
      if (Object.values(ctx.state.sandboxes).some((s) => s.endpoints[net.id])) {
        ctx.log('warn', `overlay: network ${net.name} was removed from the cluster but local sandboxes still use it; kept here`);
        continue;
      }
      await this.dematerialize(net);
      changed = true;
    }
    timer.mark('networks');
    const eps = this.parsed<OverlayEndpoint>(ENDPOINTS_PREFIX);
    const localNets = new Set(Object.values(ctx.state.networks).flatMap((n) => (n.overlay ? [n.id] : [])));
    const want = desiredPeers(eps, this.self, localNets);
    const { del, add } = diffPeers(this.peers, want);
    if (del.length || add.length) {
      await programPeers(del, add);
      ctx.log('debug', `overlay: peers -${del.length} +${add.length}`);
    }
    this.peers = want;
    timer.mark('peers');
    const remote = eps.filter((e) => e.host !== this.self && e.kind === undefined);
    if (changed || JSON.stringify(remote) !== JSON.stringify(this.remoteEps)) {
      const known = new Set(this.remoteEps.map((e) => `${e.networkId}/${e.ip}/${e.sandboxId}`));
      this.remoteEps = remote;
      await ctx.follow();
      timer.mark('follow');
      ctx.log('debug', `overlay: applied ${eps.length} endpoints: ${timer}`);
      const now = Date.now();
      for (const e of remote) {
        if (known.has(`${e.networkId}/${e.ip}/${e.sandboxId}`) || e.claimedAt === undefined) continue;
        ctx.log('debug', `overlay: converged ${e.name} ${e.ip} from ${e.host} in ${now - e.claimedAt} ms (FDB, neighbour, DNS)`);
      }
    }
    await this.extension?.apply(this.kvs);
  }

  private recordOf(spec: OverlayNetworkSpec): NetworkRecord {
    const cfg = this.ctx.cfg;
    const mtu = spec.options[OPT_MTU] !== undefined ? Number(spec.options[OPT_MTU]) : cfg.mtu - VXLAN_OVERHEAD;
    return {
      id: spec.id as NetworkRecord['id'],
      name: spec.name,
      driver: 'bridge',
      created: spec.created,
      builtin: false,
      internal: spec.internal,
      bridge: bridgeNameFor(spec.id),
      subnet: spec.subnet,
      gateway: spec.gateway,
      userSubnet: spec.userSubnet,
      options: spec.options,
      labels: spec.labels,
      // Docker's overlay driver has no ICC option; berth honours the bridge one (checked at
      // create), and br_netfilter sends bridged VXLAN traffic through the same forward rules.
      icc: boolOption(spec.options, OPT_ICC, true),
      masquerade: cfg.ipMasq,
      mtu,
      hostBindingIpv4: cfg.defaultBindIp,
      dns: true,
      overlay: { vni: spec.vni, attachable: spec.attachable, bridgeMac: hostBridgeMac(this.store.cfg.advertiseAddr) },
    };
  }

  private async materialize(spec: OverlayNetworkSpec): Promise<NetworkRecord> {
    const ctx = this.ctx;
    const net = this.recordOf(spec);
    net.pending = 'create';
    ctx.state.networks[net.id] = net;
    await ctx.persist(net);
    await this.ensureDevices(net);
    delete net.pending;
    await ctx.persist(net);
    ctx.log('info', `overlay: network ${net.name} here (${net.subnet}, vni ${spec.vni}, bridge ${net.bridge})`);
    return net;
  }

  private async ensureDevices(net: NetworkRecord): Promise<void> {
    if (!net.bridge || !net.overlay) return;
    if (!(await linkExists(net.bridge))) await createBridge(net);
    const vx = vxlanNameFor(net.id);
    if (!(await linkExists(vx))) {
      await createVxlan(vx, net.overlay.vni, this.store.cfg.advertiseAddr, net.bridge, net.mtu);
      this.peers = this.peers.filter((p) => p.vxlan !== vx); // a new device has no entries
    }
    this.devicesChecked.add(net.id);
  }

  private async dematerialize(net: NetworkRecord): Promise<void> {
    const ctx = this.ctx;
    net.pending = 'remove';
    await ctx.persist(net);
    await deleteLink(vxlanNameFor(net.id));
    if (net.bridge) await deleteLink(net.bridge);
    this.peers = this.peers.filter((p) => p.vxlan !== vxlanNameFor(net.id));
    this.devicesChecked.delete(net.id);
    delete ctx.state.networks[net.id];
    await ctx.persist(net);
    ctx.log('info', `overlay: network ${net.name} removed here`);
  }

  // ---- API operations (called under ctx.lock) -----------------------------------------------

  /** network create -d overlay: written to etcd by compare-and-swap, then made here at once. */
  async createNetwork(req: CreateNetworkInput): Promise<NetworkRecord> {
    const ctx = this.ctx;
    const configs = req.IPAM.Config;
    if (configs.length > 1) throw new BadRequest('berth supports one IPv4 subnet per network');
    const cfg0 = configs[0] ?? { Subnet: undefined, Gateway: undefined, IPRange: undefined };
    if (!cfg0.Subnet && (cfg0.Gateway || cfg0.IPRange)) throw new BadRequest('--gateway and --ip-range need --subnet');
    if (Object.values(ctx.state.networks).some((n) => n.name === req.Name)) throw new Conflict(`network with name ${req.Name} already exists`);
    const localTaken = Object.values(ctx.state.networks).flatMap((n) => (n.subnet && !n.overlay ? [{ name: n.name, subnet: n.subnet }] : []));
    boolOption(req.Options, OPT_ICC, true); // a bad value is refused before anything is stored
    const id = newNetworkId();
    const spec = await this.store.createNetwork((existing) => {
      const dup = existing.find((e) => e.name === req.Name);
      if (dup) throw new Conflict(`network with name ${req.Name} already exists`);
      const subnet = pickOverlaySubnet(cfg0.Subnet, [...localTaken, ...existing.map((e) => ({ name: e.name, subnet: e.subnet }))]);
      const plan = planSubnet(subnet, cfg0.Gateway, cfg0.IPRange);
      return {
        id,
        name: req.Name,
        subnet,
        gateway: parseIpv4(cfg0.Gateway ?? defaultGateway(plan)),
        userSubnet: Boolean(cfg0.Subnet),
        vni: pickVni(existing.map((e) => e.vni)),
        internal: req.Internal,
        attachable: req.Attachable ?? false,
        created: new Date().toISOString(),
        options: { ...req.Options },
        labels: { ...req.Labels },
      };
    });
    this.kvs.set(NETWORKS_PREFIX + spec.id, JSON.stringify(spec));
    const net = await this.materialize(spec);
    await ctx.follow();
    return net;
  }

  /** network rm on any host: refused while any host has an endpoint on it. */
  async removeNetwork(net: NetworkRecord): Promise<void> {
    const spec = this.parsed<OverlayNetworkSpec>(NETWORKS_PREFIX).find((s) => s.id === net.id);
    if (spec) await this.store.removeNetwork(spec);
    this.kvs.delete(NETWORKS_PREFIX + net.id);
    await this.dematerialize(net);
    await this.ctx.follow();
  }

  // ---- hooks for sandboxes and DNS ----------------------------------------------------------

  taken(networkId: string): string[] {
    // This host's own sandboxes are in state; its VIP and mesh claims are not.
    return this.parsed<OverlayEndpoint>(`${ENDPOINTS_PREFIX}${networkId}/`).filter((e) => e.host !== this.self || e.kind !== undefined).map((e) => e.ip);
  }

  async claim(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Promise<boolean> {
    const rec: OverlayEndpoint = {
      networkId: net.id,
      ip: ep.ip!,
      mac: ep.mac!,
      host: this.self,
      vtep: this.store.cfg.advertiseAddr,
      sandboxId: sb.id,
      name: sb.name,
      claimedAt: Date.now(),
      aliases: [...ep.aliases, ...(sb.config.userHostname && sb.config.hostname ? [sb.config.hostname] : [])],
    };
    const ok = await this.store.claimEndpoint(rec);
    if (ok) this.kvs.set(endpointKey(net.id, rec.ip), JSON.stringify(rec));
    else {
      // Learn who holds it, so the next reservation skips it.
      const snap = await this.store.snapshot();
      this.kvs = snap.kvs;
    }
    return ok;
  }

  /** Endpoints of other hosts, for the embedded DNS. */
  remote(): readonly OverlayEndpoint[] {
    return this.remoteEps;
  }

  /** A StateFollower: addresses of endpoints no longer in state are given back (in the
   * background: a stop or rm must not wait for etcd; retried until it works). */
  async sync(): Promise<void> {
    const live = new Set<string>();
    for (const sb of Object.values(this.ctx.state.sandboxes)) {
      for (const ep of Object.values(sb.endpoints)) if (ep.ip && this.ctx.state.networks[ep.networkId]?.overlay) live.add(endpointKey(ep.networkId, ep.ip));
    }
    const gone = this.store.ownedKeys().filter((k) => !live.has(k));
    for (const k of gone) this.kvs.delete(k);
    if (gone.length) void this.release(gone);
  }

  private async release(keys: string[]): Promise<void> {
    const failed: string[] = [];
    for (const k of keys) {
      try {
        await this.store.releaseEndpoint(k);
      } catch (e) {
        failed.push(k);
        this.ctx.log('warn', `overlay: giving back ${k} failed (${(e as Error).message}); retrying`);
      }
    }
    if (failed.length && !this.releaseTimer) {
      this.releaseTimer = setTimeout(() => {
        this.releaseTimer = undefined;
        void this.release(failed);
      }, 2000);
      this.releaseTimer.unref();
    }
  }
}
