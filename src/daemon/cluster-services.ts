// Services across hosts (docs/overlay.md "Services across hosts"). A service on overlay networks
// lives in the cluster store; every host mirrors it into its own state, so the VIP maps, DNS and
// the catalog of every host follow it as they follow a local service, and the local service
// manager runs the replicas whose slots the placement gave this host.
//
//   /berth/services/<name>               the record (created by CAS: the name is unique)
//   /berth/endpoints/<net>/<vip>         the VIP's claim, kind 'vip', no lease
//   /berth/assign/<service id>           {slot: node}: written only by the leader
//   /berth/tasks/<svc id>/<slot>/<node>  each replica as its host reports it, on that host's lease
//   /berth/leader                        the node that places, on its lease (CAS)
//
// One decider: the host holding /berth/leader places, and its writes are a txn guarded by
// `Lease(/berth/leader) == its lease`, so a host that lost the key (its lease expired) can write
// nothing, and two hosts racing cannot both place. A dead host's lease takes its node record,
// its replicas' records and (if it led) the leader key with it: the next placement moves its slots.
import { BadRequest, Conflict } from '../model/errors.js';
import { replicasOf as parseReplicas } from '../model/service-spec.js';
import type { Ipv4, NetworkRecord, RemoteTask, SandboxRecord, ServiceRecord, ServiceSpec } from '../model/types.js';
import { allocateAddress, planSubnet } from '../ipam/allocator.js';
import type { OverlayEndpoint } from '../plan/overlay-plan.js';
import { type Assignment, place, sameAssignment } from '../plan/placement.js';
import { inRotation, LABEL_SERVICE_ID, slotOf } from '../plan/service-view.js';
import { ASSIGN_PREFIX, type ClusterStore, endpointKey, HOSTS_PREFIX, LEADER_KEY, SERVICES_PREFIX, TASKS_PREFIX } from '../store/cluster-store.js';
import type { Ctx, StateFollower } from './context.js';
import { usedAddresses } from './sandbox-net.js';

/** What the service manager asks of services across hosts. */
export interface ClusterServiceHooks {
  create(name: string, spec: ServiceSpec, id: string): Promise<ServiceRecord>;
  scale(svc: ServiceRecord, replicas: number): Promise<void>;
  remove(svc: ServiceRecord): Promise<void>;
  /** Slots this host runs; undefined while the placement is not known (nothing is touched then). */
  slotsHere(svc: ServiceRecord): number[] | undefined;
  /** Slots with no node, for service ps: not placed yet, or (`stuck`) placed without them because
   * no live host satisfies the constraints. */
  unplaced(svc: ServiceRecord): { slots: number[]; stuck: boolean };
}

export function taskStateOf(sb: SandboxRecord): RemoteTask['state'] {
  if (sb.state.status === 'running') return 'running';
  if (sb.state.status === 'created') return 'starting';
  return sb.state.exitCode === 0 ? 'complete' : 'failed';
}

function parse<T>(kvs: ReadonlyMap<string, string>, prefix: string): Array<[string, T]> {
  const out: Array<[string, T]> = [];
  for (const [k, v] of kvs) {
    if (!k.startsWith(prefix)) continue;
    try {
      out.push([k, JSON.parse(v) as T]);
    } catch {
      // not ours to interpret (a foreign writer); ignored
    }
  }
  return out;
}

export class ClusterServices implements StateFollower, ClusterServiceHooks {
  private assigned = new Map<string, Assignment>();
  private known = false;
  private kvs: ReadonlyMap<string, string> = new Map();
  private leader = '';
  private placing = false;
  private placeAgain = false;
  /** Replica records this host wrote (key -> value) and the ones it wants written. */
  private published = new Map<string, string>();
  private wanted = new Map<string, string>();
  private publishing = false;
  private publishAgain = false;
  private retry: NodeJS.Timeout | undefined;
  private tick: NodeJS.Timeout | undefined;
  /** Called when the placement or the mirrored services change (the manager's pass). */
  onChange: () => void = () => undefined;
  /** Every snapshot, after it was applied (the routing mesh follows it: daemon/mesh.ts). */
  snapshot: (kvs: ReadonlyMap<string, string>) => void = () => undefined;
  /** Tells the overlay's snapshot what this host wrote (daemon/overlay.ts remember). */
  remember: (key: string, value: string | undefined) => void = () => undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly store: ClusterStore,
  ) {}

  private get self(): string {
    return this.store.cfg.nodeName;
  }

  /** Campaigns (and places) every 2 s too: a lost campaign or a failed write is retried; and
   * reports the replicas again (a removed sandbox does not always pass through follow()). */
  start(): void {
    this.tick = setInterval(() => {
      void this.lead();
      void this.sync();
    }, 2000);
    this.tick.unref();
  }

  stop(): void {
    if (this.tick) clearInterval(this.tick);
    if (this.retry) clearTimeout(this.retry);
  }

  /** The overlay's apply hands every snapshot here, under ctx.lock, after the networks exist. */
  async apply(kvs: ReadonlyMap<string, string>): Promise<void> {
    const ctx = this.ctx;
    this.kvs = kvs;
    let changed = false;
    const ids = new Set<string>();
    const services = (ctx.state.services ??= {});
    for (const [, rec] of parse<ServiceRecord>(kvs, SERVICES_PREFIX)) {
      ids.add(rec.id);
      if (!rec.spec.networks.every((id) => ctx.state.networks[id])) continue; // the network comes with the next apply
      const mirror: ServiceRecord = { ...rec, cluster: true };
      if (JSON.stringify(services[rec.id]) === JSON.stringify(mirror)) continue;
      services[rec.id] = mirror;
      ctx.touch(mirror);
      changed = true;
    }
    for (const svc of Object.values(services)) {
      if (!svc.cluster || ids.has(svc.id)) continue;
      delete services[svc.id];
      ctx.touch(svc);
      changed = true;
    }
    const assigned = new Map<string, Assignment>();
    for (const [k, a] of parse<Assignment>(kvs, ASSIGN_PREFIX)) assigned.set(k.slice(ASSIGN_PREFIX.length), a);
    const placementMoved = [...new Set([...assigned.keys(), ...this.assigned.keys()])].some((id) => !sameAssignment(assigned.get(id), this.assigned.get(id)));
    this.assigned = assigned;
    this.known = true;
    const remote = parse<RemoteTask>(kvs, TASKS_PREFIX)
      .map(([, t]) => t)
      .filter((t) => t.node !== this.self && ids.has(t.serviceId))
      .sort((a, b) => (a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : a.slot - b.slot || (a.node < b.node ? -1 : 1)));
    if (JSON.stringify(remote) !== JSON.stringify(ctx.state.remoteTasks ?? [])) {
      ctx.state.remoteTasks = remote;
      changed = true;
    }
    this.leader = kvs.get(LEADER_KEY) ?? '';
    if (changed) {
      await ctx.persist();
      await ctx.follow();
    }
    if (changed || placementMoved) this.onChange();
    this.snapshot(kvs);
    void this.lead();
  }

  // ---- placement (the leader) -----------------------------------------------------------

  private async lead(): Promise<void> {
    if (!this.known) return;
    if (this.placing) {
      this.placeAgain = true;
      return;
    }
    this.placing = true;
    try {
      do {
        this.placeAgain = false;
        if (!this.leader) {
          this.leader = await this.store.campaign();
          if (this.leader === this.self) this.ctx.log('info', 'cluster: this host now places the replicas of services across hosts (leader)');
        }
        if (this.leader !== this.self) return;
        await this.placeAll();
      } while (this.placeAgain);
    } catch (e) {
      this.ctx.log('warn', `cluster: placing replicas failed (${(e as Error).message}); retrying`);
    } finally {
      this.placing = false;
    }
  }

  private async placeAll(): Promise<void> {
    const nodes = parse<{ name: string }>(this.kvs, HOSTS_PREFIX).map(([, h]) => h.name);
    const recs = parse<ServiceRecord>(this.kvs, SERVICES_PREFIX).map(([, r]) => r);
    const next = place(
      recs.map((r) => ({ id: r.id, replicas: r.spec.replicas, constraints: r.spec.constraints ?? [] })),
      nodes,
      this.assigned,
    );
    const puts = new Map<string, string>();
    // Written also when empty (no live host allowed): service ps then says why nothing runs.
    for (const [id, a] of next) if (!this.assigned.has(id) || !sameAssignment(a, this.assigned.get(id))) puts.set(ASSIGN_PREFIX + id, JSON.stringify(a));
    const deletes = [...this.assigned.keys()].filter((id) => !next.has(id)).map((id) => ASSIGN_PREFIX + id);
    if (!puts.size && !deletes.length) return;
    if (await this.store.putAsLeader(puts, deletes)) {
      for (const [k, v] of puts) this.ctx.log('info', `cluster: placed ${k.slice(ASSIGN_PREFIX.length, ASSIGN_PREFIX.length + 12)}: ${v}`);
    } else {
      this.leader = ''; // another host leads now (or our lease changed): campaign again
    }
  }

  slotsHere(svc: ServiceRecord): number[] | undefined {
    if (!this.known) return undefined;
    const a = this.assigned.get(svc.id);
    if (!a) return undefined;
    return Object.entries(a)
      .filter(([, node]) => node === this.self)
      .map(([slot]) => Number(slot))
      .sort((x, y) => x - y);
  }

  unplaced(svc: ServiceRecord): { slots: number[]; stuck: boolean } {
    const a = this.assigned.get(svc.id);
    const slots: number[] = [];
    for (let s = 1; s <= svc.spec.replicas; s++) if (a?.[String(s)] === undefined) slots.push(s);
    return { slots, stuck: a !== undefined };
  }

  // ---- this host's replicas, reported to the others --------------------------------------

  async sync(): Promise<void> {
    const want = new Map<string, string>();
    const state = this.ctx.state;
    for (const sb of Object.values(state.sandboxes)) {
      const svcId = sb.config.labels?.[LABEL_SERVICE_ID];
      const svc = svcId ? state.services?.[svcId] : undefined;
      if (!svc?.cluster) continue;
      const ips: Record<string, Ipv4> = {};
      for (const ep of Object.values(sb.endpoints)) if (ep.ip) ips[ep.networkId] = ep.ip;
      const task: RemoteTask = {
        serviceId: svc.id,
        name: sb.name,
        slot: slotOf(sb),
        node: this.self,
        sandboxId: sb.id,
        ips,
        state: taskStateOf(sb),
        ...(sb.state.health ? { health: sb.state.health.status } : {}),
        inRotation: inRotation(sb),
        startedAt: sb.state.startedAt ?? sb.created,
      };
      want.set(`${TASKS_PREFIX}${svc.id}/${task.slot}/${this.self}`, JSON.stringify(task));
    }
    this.wanted = want;
    void this.publish();
  }

  /** Brings the replica records in etcd in line with `wanted`, in the background (a start or a
   * health change never waits for etcd); retried every second while etcd fails. */
  private async publish(): Promise<void> {
    if (this.publishing) {
      this.publishAgain = true;
      return;
    }
    this.publishing = true;
    try {
      do {
        this.publishAgain = false;
        for (const [k, v] of this.wanted) {
          if (this.published.get(k) === v) continue;
          await this.store.putOnLease(k, v);
          this.published.set(k, v);
        }
        for (const k of [...this.published.keys()]) {
          if (this.wanted.has(k)) continue;
          await this.store.deleteOwned(k);
          this.published.delete(k);
        }
      } while (this.publishAgain);
    } catch (e) {
      this.ctx.log('warn', `cluster: reporting replicas failed (${(e as Error).message}); retrying`);
      if (!this.retry) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          void this.publish();
        }, 1000);
        this.retry.unref();
      }
    } finally {
      this.publishing = false;
    }
  }

  // ---- API operations (under ctx.lock) ----------------------------------------------------

  /** service create on overlay networks: VIPs claimed for good by CAS, then the record by CAS
   * on its name; both undone if the name is taken. */
  async create(name: string, spec: ServiceSpec, id: string): Promise<ServiceRecord> {
    const ctx = this.ctx;
    const now = new Date().toISOString();
    const rec: ServiceRecord = { id, name, created: now, updated: now, spec, vips: {}, version: 1 };
    const claimed: string[] = [];
    try {
      if (spec.endpointMode === 'vip') {
        for (const netId of spec.networks) rec.vips[netId] = await this.claimVip(ctx.state.networks[netId]!, rec, claimed);
      }
      if (!(await this.store.createOnce(SERVICES_PREFIX + name, JSON.stringify(rec)))) throw new Conflict(`service ${name} already exists`);
      this.remember(SERVICES_PREFIX + name, JSON.stringify(rec));
    } catch (e) {
      if (claimed.length) await this.store.deleteAll(claimed).catch(() => undefined);
      throw e;
    }
    const mirror: ServiceRecord = { ...rec, cluster: true };
    (ctx.state.services ??= {})[id] = mirror;
    await ctx.persist(mirror);
    await ctx.follow();
    return mirror;
  }

  private async claimVip(net: NetworkRecord, rec: ServiceRecord, claimed: string[]): Promise<Ipv4> {
    const plan = planSubnet(net.subnet!, net.gateway, net.ipRange);
    const used = usedAddresses(this.ctx, net);
    for (let i = 0; i < 64; i++) {
      const ip = allocateAddress(plan, used);
      const ep: OverlayEndpoint = { networkId: net.id, ip, mac: '', host: '', vtep: '' as Ipv4, sandboxId: `vip:${rec.id}`, name: rec.name, aliases: [], kind: 'vip' };
      const key = endpointKey(net.id, ip);
      if (await this.store.claimForever(key, JSON.stringify(ep))) {
        claimed.push(key);
        this.remember(key, JSON.stringify(ep));
        return ip;
      }
      used.add(ip);
    }
    throw new Conflict(`no free address for the VIP of ${rec.name} on ${net.name}: the addresses kept being taken by other hosts`);
  }

  async scale(svc: ServiceRecord, replicas: number): Promise<void> {
    const next: ServiceRecord = { ...svc, spec: { ...svc.spec, replicas: parseReplicas(replicas) }, updated: new Date().toISOString() };
    delete next.cluster;
    await this.store.put(SERVICES_PREFIX + svc.name, JSON.stringify(next));
    this.remember(SERVICES_PREFIX + svc.name, JSON.stringify(next));
    const mirror: ServiceRecord = { ...next, cluster: true };
    this.ctx.state.services![svc.id] = mirror;
    await this.ctx.persist(mirror);
  }

  /** Removes the record, its placement and its VIPs from the cluster; every host's mirror then
   * goes and each takes its own replicas down. */
  async remove(svc: ServiceRecord): Promise<void> {
    const vipKeys = Object.entries(svc.vips).map(([net, ip]) => endpointKey(net, ip));
    await this.store.deleteAll([SERVICES_PREFIX + svc.name, ASSIGN_PREFIX + svc.id, ...vipKeys]);
    for (const k of [SERVICES_PREFIX + svc.name, ASSIGN_PREFIX + svc.id, ...vipKeys]) this.remember(k, undefined);
  }
}

/** A service spec on overlay networks is a service across hosts; mixing is refused. */
export function isClusterSpec(spec: ServiceSpec, networks: Record<string, NetworkRecord>): boolean {
  const overlay = spec.networks.filter((id) => networks[id]?.overlay);
  if (overlay.length && overlay.length !== spec.networks.length) throw new BadRequest('a service is either on overlay networks (across hosts) or on local networks, not both');
  return overlay.length > 0;
}
