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
//   /berth/updating/<svc id>/<i>         a rolling update's tokens (i < parallelism), on the holder's lease
//
// Placement is the leader's (cluster-leader.ts), reporting this host's replicas the reporter's
// (cluster-tasks.ts). A dead host's lease takes its node record, its replicas' records and (if it
// led) the leader key with it: the next placement moves its slots.
import { BadRequest, Conflict } from '../model/errors.js';
import { replicasOf as parseReplicas } from '../model/service-spec.js';
import { applyUpdate, type UpdateRequest } from '../model/service-update.js';
import type { Ipv4, NetworkRecord, RemoteTask, ServiceRecord, ServiceSpec } from '../model/types.js';
import { allocateAddress, planSubnet } from '../ipam/allocator.js';
import type { OverlayEndpoint } from '../plan/overlay-plan.js';
import { type Assignment, sameAssignment } from '../plan/placement.js';
import { ASSIGN_PREFIX, type ClusterStore, endpointKey, parseUnder, SERVICES_PREFIX, TASKS_PREFIX, UPDATING_PREFIX } from '../store/cluster-store.js';
import { Leader } from './cluster-leader.js';
import { TaskReporter } from './cluster-tasks.js';
import type { Ctx } from './context.js';
import { usedAddresses } from './sandbox-net.js';

/** What the service manager asks of services across hosts. */
export interface ClusterServiceHooks {
  create(name: string, spec: ServiceSpec, id: string): Promise<ServiceRecord>;
  scale(svc: ServiceRecord, replicas: number): Promise<void>;
  /** Writes the updated spec to etcd (CAS on the record): every host then rolls its own slots. */
  update(svc: ServiceRecord, req: UpdateRequest): Promise<{ roll: boolean } | undefined>;
  /** Takes up to `want` of the service's update tokens (parallelism of them cluster-wide);
   * [] when all are held elsewhere. */
  takeUpdateTokens(svc: ServiceRecord, want: number): Promise<string[]>;
  giveBackUpdateTokens(tokens: readonly string[]): Promise<void>;
  /** Resolves when etcd holds this host's replicas as they are now (rotation changes included). */
  reported(): Promise<boolean>;
  remove(svc: ServiceRecord): Promise<void>;
  /** Slots this host runs; undefined while the placement is not known (nothing is touched then). */
  slotsHere(svc: ServiceRecord): number[] | undefined;
  /** Slots with no node, for service ps: not placed yet, or (`stuck`) placed without them because
   * no live host satisfies the constraints. */
  unplaced(svc: ServiceRecord): { slots: number[]; stuck: boolean };
}

export class ClusterServices implements ClusterServiceHooks {
  private assigned = new Map<string, Assignment>();
  /** Each service's record as etcd holds it (by name): the expected value of a CAS update. */
  private raw = new Map<string, string>();
  private known = false;
  private tick: NodeJS.Timeout | undefined;
  private readonly leader: Leader;
  /** This host's replicas, reported to the others (a StateFollower of its own). */
  readonly reporter: TaskReporter;
  /** Called when the placement or the mirrored services change (the manager's pass). */
  onChange: () => void = () => undefined;
  /** Every snapshot, after it was applied (the routing mesh follows it: daemon/mesh.ts). */
  snapshot: (kvs: ReadonlyMap<string, string>) => void = () => undefined;
  /** Tells the overlay's snapshot what this host wrote (daemon/overlay.ts remember). */
  remember: (key: string, value: string | undefined) => void = () => undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly store: ClusterStore,
  ) {
    this.leader = new Leader(ctx, store);
    this.reporter = new TaskReporter(ctx, store);
  }

  private get self(): string {
    return this.store.cfg.nodeName;
  }

  /** Campaigns (and places) every 2 s too: a lost campaign or a failed write is retried; and
   * reports the replicas again (a removed sandbox does not always pass through follow()). */
  start(): void {
    this.tick = setInterval(() => {
      if (this.known) void this.leader.lead();
      void this.reporter.sync();
    }, 2000);
    this.tick.unref();
  }

  stop(): void {
    if (this.tick) clearInterval(this.tick);
    this.reporter.stop();
  }

  /** The overlay's apply hands every snapshot here, under ctx.lock, after the networks exist. */
  async apply(kvs: ReadonlyMap<string, string>): Promise<void> {
    const ctx = this.ctx;
    let changed = false;
    const ids = new Set<string>();
    const services = (ctx.state.services ??= {});
    this.raw = new Map([...kvs].filter(([k]) => k.startsWith(SERVICES_PREFIX)).map(([k, v]) => [k.slice(SERVICES_PREFIX.length), v]));
    for (const [, rec] of parseUnder<ServiceRecord>(kvs, SERVICES_PREFIX)) {
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
    for (const [k, a] of parseUnder<Assignment>(kvs, ASSIGN_PREFIX)) assigned.set(k.slice(ASSIGN_PREFIX.length), a);
    const placementMoved = [...new Set([...assigned.keys(), ...this.assigned.keys()])].some((id) => !sameAssignment(assigned.get(id), this.assigned.get(id)));
    this.assigned = assigned;
    this.known = true;
    const remote = parseUnder<RemoteTask>(kvs, TASKS_PREFIX)
      .map(([, t]) => t)
      .filter((t) => t.node !== this.self && ids.has(t.serviceId))
      .sort((a, b) => (a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : a.slot - b.slot || (a.node < b.node ? -1 : 1)));
    if (JSON.stringify(remote) !== JSON.stringify(ctx.state.remoteTasks ?? [])) {
      ctx.state.remoteTasks = remote;
      changed = true;
    }
    this.leader.update(kvs, assigned);
    if (changed) {
      await ctx.persist();
      await ctx.follow();
    }
    if (changed || placementMoved) this.onChange();
    this.snapshot(kvs);
    void this.leader.lead();
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
      this.raw.set(name, JSON.stringify(rec));
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
    await this.wrote(next);
  }

  /** Read-modify-write of the record in etcd, guarded by its value: an update made meanwhile on
   * another host is never overwritten (a conflict the user retries). */
  async update(svc: ServiceRecord, req: UpdateRequest): Promise<{ roll: boolean } | undefined> {
    const key = SERVICES_PREFIX + svc.name;
    const raw = this.raw.get(svc.name);
    if (!raw) throw new Conflict(`service ${svc.name} is not known to the cluster store yet; try again`);
    const cur = JSON.parse(raw) as ServiceRecord;
    const change = applyUpdate(cur.spec, req);
    if (!change) return undefined;
    const next: ServiceRecord = { ...cur, spec: change.spec, version: cur.version + (change.roll ? 1 : 0), updated: new Date().toISOString() };
    if (!(await this.store.replaceIf(key, raw, JSON.stringify(next)))) throw new Conflict(`service ${svc.name} was changed on another host meanwhile; try again`);
    await this.wrote(next);
    return { roll: change.roll };
  }

  private async wrote(next: ServiceRecord): Promise<void> {
    this.remember(SERVICES_PREFIX + next.name, JSON.stringify(next));
    this.raw.set(next.name, JSON.stringify(next));
    const mirror: ServiceRecord = { ...next, cluster: true };
    this.ctx.state.services![next.id] = mirror;
    this.ctx.touch(mirror);
    await this.ctx.persist(mirror);
  }

  async takeUpdateTokens(svc: ServiceRecord, want: number): Promise<string[]> {
    const p = svc.spec.update.parallelism;
    if (p === 0) return Array.from({ length: want }, () => ''); // 0: all at once, no budget
    const got: string[] = [];
    const value = JSON.stringify({ node: this.self, version: svc.version });
    for (let i = 0; i < p && got.length < want; i++) {
      const key = `${UPDATING_PREFIX}${svc.id}/${i}`;
      if (await this.store.createOnLease(key, value)) got.push(key);
    }
    return got;
  }

  async giveBackUpdateTokens(tokens: readonly string[]): Promise<void> {
    const keys = tokens.filter(Boolean);
    if (keys.length) await this.store.deleteAll(keys);
  }

  reported(): Promise<boolean> {
    return this.reporter.settled(3000);
  }

  /** Removes the record, its placement and its VIPs from the cluster; every host's mirror then
   * goes and each takes its own replicas down. */
  async remove(svc: ServiceRecord): Promise<void> {
    const vipKeys = Object.entries(svc.vips).map(([net, ip]) => endpointKey(net, ip));
    await this.store.deleteAll([SERVICES_PREFIX + svc.name, ASSIGN_PREFIX + svc.id, ...vipKeys], [`${UPDATING_PREFIX}${svc.id}/`]);
    for (const k of [SERVICES_PREFIX + svc.name, ASSIGN_PREFIX + svc.id, ...vipKeys]) this.remember(k, undefined);
  }
}

/** A service spec on overlay networks is a service across hosts; mixing is refused. */
export function isClusterSpec(spec: ServiceSpec, networks: Record<string, NetworkRecord>): boolean {
  const overlay = spec.networks.filter((id) => networks[id]?.overlay);
  if (overlay.length && overlay.length !== spec.networks.length) throw new BadRequest('a service is either on overlay networks (across hosts) or on local networks, not both');
  return overlay.length > 0;
}
