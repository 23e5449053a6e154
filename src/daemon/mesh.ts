// The routing mesh (docs/overlay.md): a published port of a service across hosts answers on every
// host. The way in is the firewall's: each host's service-ports map DNATs to every replica in
// rotation wherever it runs (no SNAT). The way back is this module's:
//   - on every overlay network that carries a published service across hosts, this host claims a
//     mesh address on its lease (an ordinary endpoint key, kind 'mesh', MAC = its bridge's), so
//     the other hosts hold a neighbour + FDB entry for it;
//   - inside each local replica of such a service, the return table (plan/mesh-plan.ts): a flow
//     another host delivered is marked by that host's bridge MAC, and its replies are routed to
//     that host's mesh address, where conntrack undoes the DNAT.
// It runs in the background after state or cluster changes, one pass at a time.
import { existsSync } from 'node:fs';
import type { Ipv4, NetworkRecord } from '../model/types.js';
import { allocateAddress, planSubnet } from '../ipam/allocator.js';
import { applyMeshReturn } from '../kernel/mesh.js';
import { type MeshPeer, meshReturnNft, meshRoutes } from '../plan/mesh-plan.js';
import { hostBridgeMac, type OverlayEndpoint } from '../plan/overlay-plan.js';
import { LABEL_SERVICE_ID } from '../plan/service-view.js';
import { type ClusterStore, ENDPOINTS_PREFIX, endpointKey, parseUnder } from '../store/cluster-store.js';
import type { Ctx, StateFollower } from './context.js';
import { usedAddresses } from './sandbox-net.js';

export class Mesh implements StateFollower {
  private kvs: ReadonlyMap<string, string> = new Map();
  /** sandbox id -> the plan applied in it (text), so an unchanged replica is not touched. */
  private readonly applied = new Map<string, string>();
  /** network id -> the key of this host's mesh address there. */
  private readonly claims = new Map<string, string>();
  private running = false;
  private again = false;
  private retry: NodeJS.Timeout | undefined;
  /** The cluster store's snapshot changed (it holds the other hosts' mesh addresses). */
  remember: (key: string, value: string | undefined) => void = () => undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly store: ClusterStore,
  ) {}

  private get self(): string {
    return this.store.cfg.nodeName;
  }

  setSnapshot(kvs: ReadonlyMap<string, string>): void {
    this.kvs = kvs;
    this.kick();
  }

  async sync(): Promise<void> {
    this.kick();
  }

  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (e) {
          this.ctx.log('warn', `mesh: ${(e as Error).message}; retrying`);
          this.later(1000);
        }
      } while (this.again);
      this.running = false;
    })();
  }

  private later(ms: number): void {
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.kick();
    }, ms);
    this.retry.unref();
  }

  /** Networks (first network of each published service across hosts) that need the mesh. */
  private meshNetworks(): Set<string> {
    const out = new Set<string>();
    for (const svc of Object.values(this.ctx.state.services ?? {})) {
      const first = svc.spec.networks[0];
      if (svc.cluster && first && svc.spec.ports.some((p) => p.published) && this.ctx.state.networks[first]?.overlay) out.add(first);
    }
    return out;
  }

  /** The mesh addresses of every host, from the snapshot. */
  private endpoints(): OverlayEndpoint[] {
    return parseUnder<OverlayEndpoint>(this.kvs, ENDPOINTS_PREFIX)
      .map(([, e]) => e)
      .filter((e) => e.kind === 'mesh');
  }

  private async pass(): Promise<void> {
    const ctx = this.ctx;
    const nets = this.meshNetworks();
    for (const netId of nets) if (!this.claims.has(netId)) await ctx.lock.run(() => this.claim(ctx.state.networks[netId]!));
    for (const [netId, key] of [...this.claims]) {
      if (nets.has(netId)) continue;
      await this.store.deleteOwned(key);
      this.remember(key, undefined);
      this.claims.delete(netId);
      ctx.log('info', `mesh: mesh address ${key.slice(key.lastIndexOf('/') + 1)} given back (no published service on the network)`);
    }
    const peersOf = new Map<string, MeshPeer[]>();
    for (const e of this.endpoints()) {
      if (e.host === this.self || !nets.has(e.networkId)) continue;
      peersOf.set(e.networkId, [...(peersOf.get(e.networkId) ?? []), { node: e.host, mac: e.mac, meshIp: e.ip }]);
    }
    const live = new Set<string>();
    for (const sb of Object.values(ctx.state.sandboxes)) {
      const svc = ctx.state.services?.[sb.config.labels?.[LABEL_SERVICE_ID] ?? ''];
      const netId = svc?.spec.networks[0];
      const ep = netId ? sb.endpoints[netId] : undefined;
      if (!svc || !netId || !nets.has(netId) || !ep || sb.state.status !== 'running') continue;
      live.add(sb.id);
      const peers = peersOf.get(netId) ?? [];
      const nft = meshReturnNft(peers);
      const routes = meshRoutes(peers, ep.ifName);
      const key = nft + JSON.stringify(routes);
      if (this.applied.get(sb.id) === key) continue;
      // A replica being started may be 'running' a moment before its namespace is bound: next pass.
      if (!existsSync(ctx.netnsPath(sb.id))) {
        this.later(200);
        continue;
      }
      await applyMeshReturn(ctx.netnsPath(sb.id), nft, routes);
      this.applied.set(sb.id, key);
      ctx.log('debug', `mesh: ${sb.name} returns flows of ${peers.map((p) => p.node).join(', ') || 'no other host'} through them`);
    }
    for (const id of [...this.applied.keys()]) if (!live.has(id)) this.applied.delete(id);
  }

  /** This host's mesh address on `net`: the one it held before (a berthd restart), else a free
   * one, claimed on its lease by compare-and-swap. */
  private async claim(net: NetworkRecord): Promise<void> {
    const mine = this.endpoints().find((e) => e.networkId === net.id && e.host === this.self);
    const used = usedAddresses(this.ctx, net);
    const plan = planSubnet(net.subnet!, net.gateway, net.ipRange);
    for (let i = 0; i < 32; i++) {
      const ip: Ipv4 = i === 0 && mine ? mine.ip : allocateAddress(plan, used);
      const vtep = this.store.cfg.advertiseAddr;
      const rec: OverlayEndpoint = { networkId: net.id, ip, mac: hostBridgeMac(vtep), host: this.self, vtep, sandboxId: `mesh:${this.self}`, name: `mesh.${this.self}`, aliases: [], kind: 'mesh' };
      const key = endpointKey(net.id, ip);
      if (await this.store.claimOnLease(key, JSON.stringify(rec))) {
        this.claims.set(net.id, key);
        this.remember(key, JSON.stringify(rec));
        this.ctx.log('info', `mesh: mesh address ${ip} on ${net.name} (replies to flows this host DNATs come back to it)`);
        return;
      }
      used.add(ip);
    }
    throw new Error(`no free mesh address on ${net.name}`);
  }
}
