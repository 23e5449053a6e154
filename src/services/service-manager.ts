// Services: operations (create, update, scale, remove) and the reconciler that drives each
// service's desired replicas to running sandboxes. Replicas are ordinary sandboxes named
// NAME.SLOT with swarm's labels; a replica that exits or turns unhealthy is removed and made
// again in its slot. VIPs are reserved in the network's IPAM (the service record holds them);
// the firewall, DNS and VIP-address followers derive everything else from state.
import { randomBytes } from 'node:crypto';
import { BadRequest, Conflict, NotFound } from '../model/errors.js';
import { healthcheckToApi } from '../model/healthcheck.js';
import { serviceSpecFromApi } from '../model/service-spec.js';
import { applyUpdate, type UpdateRequest } from '../model/service-update.js';
import type { NetworkId, SandboxRecord, ServiceRecord, ServiceSpec } from '../model/types.js';
import { allocateAddress, planSubnet } from '../ipam/allocator.js';
import type { Ctx } from '../daemon/context.js';
import { Mutex } from '../daemon/mutex.js';
import { randomName } from '../daemon/names-gen.js';
import { validateName } from '../model/names.js';
import type { Sandboxes } from '../daemon/sandboxes.js';
import { type ClusterServiceHooks, isClusterSpec } from '../daemon/cluster-services.js';
import { createSandboxBody } from '../daemon/schema/container-schemas.js';
import { usedAddresses } from '../daemon/sandbox-net.js';
import {
  inRotation,
  LABEL_SERVICE_ID,
  LABEL_SERVICE_NAME,
  LABEL_SERVICE_VERSION,
  LABEL_TASK_SLOT,
  replicasOf,
  slotOf,
} from '../plan/service-view.js';

/** Seconds a replica gets between SIGTERM and SIGKILL when it is taken down. */
const STOP_GRACE_S = 3;
/**
 * After a replica leaves the rotation and before it is stopped: flows the kernel sent to it just
 * before the map changed (a SYN in flight, a request being answered) get this long to finish.
 * Without it a rolling update cut one connection in a few runs under load (e2e 420).
 */
const DRAIN_MS = 1000;

function newServiceId(): string {
  // Swarm ids: 25 characters of [0-9a-z].
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return [...randomBytes(25)].map((b) => alphabet[b % 36]).join('');
}

export type { UpdateRequest };

const versionOf = (r: SandboxRecord): number => Number(r.config.labels?.[LABEL_SERVICE_VERSION] ?? 0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ServiceManager {
  /** One reconcile pass or rolling step at a time. */
  private readonly passLock = new Mutex();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The last error of a service's replica (shown by service ps), by service id. */
  readonly lastError = new Map<string, string>();
  /** Services under a rolling update: the reconciler leaves their old replicas to it. */
  private readonly rolling = new Set<string>();
  /** Services across hosts (berthd --cluster-store); absent on a single host. */
  cluster: ClusterServiceHooks | undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly sandboxes: Sandboxes,
  ) {}

  start(intervalMs = 500): void {
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Runs a reconcile pass soon (coalesced with one already waiting). */
  private pending = false;
  kick(): void {
    if (this.pending || this.stopped) return;
    this.pending = true;
    void this.passLock
      .run(async () => {
        this.pending = false;
        await this.pass();
      })
      .catch((e: Error) => this.ctx.log('error', `service reconcile: ${e.message}`));
  }

  service(ref: string): ServiceRecord {
    const all = Object.values(this.ctx.state.services ?? {});
    const hit = all.find((s) => s.id === ref) ?? all.find((s) => s.name === ref);
    if (hit) return hit;
    const byPrefix = /^[0-9a-z]+$/.test(ref) ? all.filter((s) => s.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    throw new NotFound(`service ${ref} not found`);
  }

  list(): ServiceRecord[] {
    return Object.values(this.ctx.state.services ?? {}).sort((a, b) => a.created.localeCompare(b.created));
  }

  replicas(svc: ServiceRecord): SandboxRecord[] {
    return replicasOf(this.ctx.state, svc).sort((a, b) => slotOf(a) - slotOf(b));
  }

  async create(body: unknown): Promise<ServiceRecord> {
    const ctx = this.ctx;
    const rec = await ctx.lock.run(async () => {
      // Without a name, a Docker-style random one (with '-': service names are DNS labels).
      const given = (body as { Name?: unknown }).Name;
      const named = given
        ? body
        : { ...(body as object), Name: randomName((n) => Object.values(ctx.state.services ?? {}).some((s) => s.name === n.replace('_', '-'))).replace('_', '-') };
      const { name, spec } = serviceSpecFromApi(named, (ref) => ctx.network(ref).id as NetworkId);
      if (spec.networks.length === 0) spec.networks.push(ctx.network('bridge').id as NetworkId);
      if (Object.values(ctx.state.services ?? {}).some((s) => s.name === name)) throw new Conflict(`service ${name} already exists`);
      for (const id of spec.networks) {
        const net = ctx.state.networks[id]!;
        if (net.driver !== 'bridge' || !net.subnet) throw new BadRequest(`network ${net.name} cannot be used with services: give a bridge network`);
      }
      this.checkPublished(spec, undefined);
      if (isClusterSpec(spec, ctx.state.networks)) {
        if (!this.cluster) throw new BadRequest('services on overlay networks need berthd --cluster-store');
        const svc = await this.cluster.create(name, spec, newServiceId());
        ctx.log('info', `service ${name} created across hosts (${spec.replicas} replicas, VIP ${Object.values(svc.vips).join(' ') || 'none'})`);
        return svc;
      }
      if (spec.constraints?.length) throw new BadRequest('--constraint places replicas across hosts: give an overlay network (--network)');
      const now = new Date().toISOString();
      const svc: ServiceRecord = { id: newServiceId(), name, created: now, updated: now, spec, vips: {}, version: 1 };
      if (spec.endpointMode === 'vip') {
        for (const id of spec.networks) {
          const net = ctx.state.networks[id]!;
          svc.vips[id] = allocateAddress(planSubnet(net.subnet!, net.gateway, net.ipRange), usedAddresses(ctx, net));
        }
      }
      (ctx.state.services ??= {})[svc.id] = svc;
      try {
        await ctx.follow();
        await ctx.persist(svc);
      } catch (err) {
        delete ctx.state.services[svc.id];
        await ctx.follow().catch(() => undefined);
        throw err;
      }
      ctx.log('info', `service ${name} created (${spec.replicas} replicas${spec.endpointMode === 'vip' ? `, VIP ${Object.values(svc.vips).join(' ')}` : ', dnsrr'})`);
      return svc;
    });
    this.kick();
    return rec;
  }

  /** A published port may serve one service only, and no sandbox may hold it. */
  private checkPublished(spec: ServiceSpec, self: string | undefined): void {
    for (const p of spec.ports) {
      if (!p.published) continue;
      const other = Object.values(this.ctx.state.services ?? {}).find((s) => s.id !== self && s.spec.ports.some((q) => q.published === p.published && q.proto === p.proto));
      if (other) throw new Conflict(`port ${p.published}/${p.proto} is already published by service ${other.name}`);
      const sb = Object.values(this.ctx.state.sandboxes).find((s) => s.ports.some((b) => b.hostPort === p.published && b.proto === p.proto));
      if (sb) throw new Conflict(`port ${p.published}/${p.proto} is already published by sandbox ${sb.name}`);
    }
  }

  async scale(ref: string, replicas: number): Promise<void> {
    await this.update(ref, { replicas });
  }

  /**
   * Changes the spec. A change of replicas only is a scale; a change of what replicas run
   * (environment) bumps the version and rolls the replicas, P at a time: P old ones are taken
   * down, P new ones made, and the next batch waits until those are in rotation (and the delay):
   * at least K-P replicas stay in rotation throughout. Across hosts the spec changes in etcd and
   * every host rolls its own slots (clusterRoll); the request returns when all slots run it.
   */
  async update(ref: string, req: UpdateRequest): Promise<void> {
    const ctx = this.ctx;
    const res = await ctx.lock.run(async () => {
      const svc = this.service(ref);
      if (svc.cluster) {
        const change = await this.cluster!.update(svc, req);
        return change ? { id: svc.id, roll: change.roll } : undefined;
      }
      const change = applyUpdate(svc.spec, req);
      if (!change) return undefined;
      svc.spec = change.spec;
      if (change.roll) svc.version += 1;
      svc.updated = new Date().toISOString();
      await ctx.persist(svc);
      return { id: svc.id, roll: change.roll };
    });
    if (!res) return;
    if (!res.roll) {
      this.kick();
      await this.passLock.run(async () => undefined); // the pass that scales has run
      return;
    }
    if (ctx.state.services?.[res.id]?.cluster) {
      this.kick(); // this host's pass starts its own slots' roll
      await this.waitRolledOut(res.id);
      return;
    }
    await this.rollingUpdate(res.id);
  }

  private async rollingUpdate(id: string): Promise<void> {
    this.rolling.add(id);
    try {
      for (;;) {
        const svc = this.ctx.state.services?.[id];
        if (!svc || this.stopped) return;
        const old = this.replicas(svc).filter((r) => versionOf(r) < svc.version);
        if (old.length === 0) return;
        await this.rollBatch(svc, old.slice(0, svc.spec.update.parallelism || old.length));
        if (svc.spec.update.delayMs) await sleep(svc.spec.update.delayMs);
      }
    } finally {
      this.rolling.delete(id);
    }
  }

  /** Replaces these replicas in their slots and waits until the new ones are in rotation. */
  private async rollBatch(svc: ServiceRecord, batch: SandboxRecord[]): Promise<void> {
    const slots = batch.map(slotOf);
    await this.passLock.run(async () => {
      await this.takeDownAll(batch);
      await this.pass();
    });
    this.ctx.log('info', `service ${svc.name}: rolling update, slots ${slots.join(',')} replaced`);
    await this.waitInRotation(svc.id, slots);
  }

  /**
   * A service across hosts: this host's slots running an older version are replaced, one batch
   * per set of tokens taken in etcd (at most `parallelism` cluster-wide, on the holder's lease:
   * a host that dies gives them back). A token is given back only when the new replicas are in
   * rotation and etcd holds that (so every host has them in its VIP maps), after the delay.
   */
  private async clusterRoll(id: string): Promise<void> {
    try {
      for (;;) {
        const svc = this.ctx.state.services?.[id];
        if (!svc?.cluster || !this.cluster || this.stopped) return;
        const here = new Set(this.cluster.slotsHere(svc) ?? []);
        const old = this.replicas(svc).filter((r) => here.has(slotOf(r)) && versionOf(r) < svc.version);
        if (old.length === 0) return;
        let tokens: string[];
        try {
          tokens = await this.cluster.takeUpdateTokens(svc, old.length);
        } catch (e) {
          this.ctx.log('warn', `service ${svc.name}: rolling update waits for the cluster store (${(e as Error).message})`);
          await sleep(1000);
          continue;
        }
        if (!tokens.length) {
          await sleep(250); // another host's batch is under way
          continue;
        }
        try {
          await this.rollBatch(svc, old.slice(0, tokens.length));
          await this.cluster.reported();
          if (svc.spec.update.delayMs) await sleep(svc.spec.update.delayMs);
        } finally {
          await this.cluster.giveBackUpdateTokens(tokens).catch((e: Error) => this.ctx.log('warn', `service ${svc.name}: giving back update tokens: ${e.message} (they go with this host's lease)`));
        }
      }
    } finally {
      this.rolling.delete(id);
    }
  }

  /** Across hosts: whether some replica, here or on another host, runs an older version. */
  private hasOldReplicas(svc: ServiceRecord): boolean {
    return (
      this.replicas(svc).some((r) => versionOf(r) < svc.version) ||
      (this.ctx.state.remoteTasks ?? []).some((t) => t.serviceId === svc.id && (t.version ?? 0) < svc.version)
    );
  }

  /** Across hosts: waits until every slot runs the current version, in rotation, wherever it runs. */
  private async waitRolledOut(id: string): Promise<void> {
    const svc = this.ctx.state.services?.[id];
    if (!svc) return;
    const h = svc.spec.healthcheck;
    const perBatch = 30_000 + (h ? h.startPeriodMs + (h.intervalMs + h.timeoutMs) * (h.retries + 1) : 0) + svc.spec.update.delayMs;
    const limit = Date.now() + perBatch * Math.ceil(svc.spec.replicas / (svc.spec.update.parallelism || svc.spec.replicas));
    while (Date.now() < limit && !this.stopped) {
      const cur = this.ctx.state.services?.[id];
      if (!cur || cur.version !== svc.version) return; // removed, or a newer update took over
      const done = new Set<number>();
      for (const r of this.replicas(cur)) if (versionOf(r) === cur.version && inRotation(r)) done.add(slotOf(r));
      for (const t of this.ctx.state.remoteTasks ?? []) if (t.serviceId === id && t.version === cur.version && t.inRotation) done.add(t.slot);
      if (Array.from({ length: cur.spec.replicas }, (_, i) => i + 1).every((slot) => done.has(slot))) return;
      await sleep(200);
    }
    this.ctx.log('warn', `service ${svc.name}: the rolling update across hosts did not finish in time; it goes on in the background`);
  }

  /** Waits until the replicas of these slots (of the current version) are in rotation. */
  private async waitInRotation(id: string, slots: number[]): Promise<void> {
    const svc = this.ctx.state.services?.[id];
    if (!svc) return;
    const h = svc.spec.healthcheck;
    const limit = Date.now() + 30_000 + (h ? h.startPeriodMs + (h.intervalMs + h.timeoutMs) * (h.retries + 1) : 0);
    while (Date.now() < limit && !this.stopped) {
      const cur = this.ctx.state.services?.[id];
      if (!cur) return;
      const ready = slots.every((slot) =>
        this.replicas(cur).some((r) => slotOf(r) === slot && versionOf(r) === cur.version && inRotation(r)),
      );
      if (ready) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    this.ctx.log('warn', `service ${svc.name}: new replicas of slots ${slots.join(',')} not in rotation in time; going on`);
  }

  async remove(ref: string): Promise<void> {
    const ctx = this.ctx;
    const svc = await ctx.lock.run(async () => {
      const s = this.service(ref);
      if (s.cluster) await this.cluster!.remove(s);
      // The record goes first: its VIPs leave the firewall and DNS, and the reconciler stops.
      delete ctx.state.services![s.id];
      await ctx.follow();
      await ctx.persist(s);
      return s;
    });
    await this.passLock.run(async () => {
      await this.takeDownAll(replicasOf(ctx.state, svc));
    });
    this.lastError.delete(svc.id);
    ctx.log('info', `service ${svc.name} removed`);
  }

  private async takeDown(r: SandboxRecord): Promise<void> {
    await this.takeDownAll([r]);
  }

  /**
   * Takes replicas down together: out of rotation (VIP maps, DNS) first, all in one change, so that
   * no new flow goes to a replica that stops; one drain; then each is stopped and removed, at once
   * (a service of N replicas is removed in one drain, not N one after another).
   */
  private async takeDownAll(rs: readonly SandboxRecord[]): Promise<void> {
    const ctx = this.ctx;
    let drained: SandboxRecord[] = [];
    try {
      drained = await ctx.lock.run(async () => {
        const out: SandboxRecord[] = [];
        for (const r of rs) {
          const cur = ctx.state.sandboxes[r.id];
          if (!cur || cur.state.status !== 'running' || cur.state.draining) continue;
          cur.state = { ...cur.state, draining: true };
          ctx.touch(cur);
          out.push(cur);
        }
        if (out.length) await ctx.follow();
        return out;
      });
    } catch (e) {
      ctx.log('warn', `taking ${rs.map((r) => r.name).join(', ')} out of rotation: ${(e as Error).message}`);
    }
    if (drained.length) {
      // Across hosts the other hosts take them out of their VIP maps once etcd has it: the drain
      // starts then.
      const across = drained.some((r) => ctx.state.services?.[r.config.labels?.[LABEL_SERVICE_ID] ?? '']?.cluster);
      if (across) await this.cluster?.reported();
      await sleep(DRAIN_MS);
    }
    await Promise.all(
      rs.map(async (r) => {
        try {
          await this.sandboxes.stop(r.id, STOP_GRACE_S);
          await this.sandboxes.remove(r.id, true);
        } catch (e) {
          if (!(e instanceof NotFound)) ctx.log('warn', `removing replica ${r.name}: ${(e as Error).message}`);
        }
      }),
    );
  }

  /** One pass over every service: replace failed replicas, remove extra ones, make missing ones. */
  private async pass(): Promise<void> {
    // Replicas of a service that no longer exists (berthd stopped while removing it).
    const ids = new Set(Object.keys(this.ctx.state.services ?? {}));
    for (const sb of Object.values(this.ctx.state.sandboxes)) {
      const owner = sb.config.labels?.[LABEL_SERVICE_ID];
      if (owner && !ids.has(owner) && !this.stopped) await this.takeDown(sb);
    }
    // One pass over the sandboxes for every service (a pass runs twice a second).
    const index = new Map<string, SandboxRecord[]>();
    for (const sb of Object.values(this.ctx.state.sandboxes)) {
      const owner = sb.config.labels?.[LABEL_SERVICE_ID];
      if (owner) index.set(owner, [...(index.get(owner) ?? []), sb]);
    }
    for (const svc of Object.values(this.ctx.state.services ?? {})) {
      if (this.stopped) return;
      if (!this.ctx.state.services?.[svc.id]) continue;
      // Across hosts, the slots the placement gave this host; unknown yet: touch nothing.
      const slots = svc.cluster ? this.cluster?.slotsHere(svc) : Array.from({ length: svc.spec.replicas }, (_, i) => i + 1);
      if (!slots) continue;
      const wanted = new Set(slots);
      const reps = index.get(svc.id) ?? [];
      let changed = false;
      for (const r of reps) {
        const failed = r.state.status !== 'running' || r.state.health?.status === 'unhealthy';
        const extra = !wanted.has(slotOf(r));
        if (failed || extra) {
          if (failed && !extra) {
            const why = r.state.status !== 'running' ? `task: non-zero exit (${r.state.exitCode})${r.state.error ? `: ${r.state.error}` : ''}` : 'task: unhealthy container';
            this.lastError.set(svc.id, `${r.name}: ${why}`);
            this.ctx.log('info', `service ${svc.name}: replacing ${r.name} (${why})`);
          }
          await this.takeDown(r);
          changed = true;
        }
      }
      if (svc.cluster && !this.rolling.has(svc.id) && reps.some((r) => wanted.has(slotOf(r)) && versionOf(r) < svc.version)) {
        this.rolling.add(svc.id);
        void this.clusterRoll(svc.id); // outside this pass: it takes the pass lock per batch
      }
      const have = new Set((changed ? this.replicas(svc) : reps).map(slotOf));
      for (const slot of slots) {
        if (have.has(slot) || !this.ctx.state.services?.[svc.id] || this.stopped) continue;
        await this.makeReplica(svc, slot);
      }
    }
  }

  private async makeReplica(svc: ServiceRecord, slot: number): Promise<void> {
    const ctx = this.ctx;
    const spec = svc.spec;
    const [first, ...rest] = spec.networks.map((id) => ctx.state.networks[id]?.name).filter((n): n is string => !!n);
    if (!first) {
      this.lastError.set(svc.id, 'no network left: the service networks were removed');
      return;
    }
    const endpoints: Record<string, { Aliases: string[] }> = {};
    for (const n of [first, ...rest]) endpoints[n] = { Aliases: [] };
    const exposed: Record<string, object> = {};
    for (const p of spec.ports) exposed[`${p.target}/${p.proto}`] = {};
    // Replicas are made from the same schema as any create request.
    const req = {
      Cmd: spec.cmd,
      Env: spec.env,
      Rootfs: spec.rootfs,
      ExposedPorts: exposed,
      Labels: {
        ...spec.labels,
        [LABEL_SERVICE_ID]: svc.id,
        [LABEL_SERVICE_NAME]: svc.name,
        [LABEL_TASK_SLOT]: String(slot),
        [LABEL_SERVICE_VERSION]: String(svc.version),
      },
      ...(spec.healthcheck ? { Healthcheck: healthcheckToApi(spec.healthcheck) } : {}),
      HostConfig: { NetworkMode: first },
      NetworkingConfig: { EndpointsConfig: endpoints },
    };
    const name = `${svc.name}.${slot}`;
    let id: string | undefined;
    try {
      const { sb } = await this.sandboxes.create(validateName('container', name), createSandboxBody.parse(req));
      id = sb.id;
      await this.sandboxes.start(sb.id);
    } catch (e) {
      const msg = (e as Error).message;
      if (this.lastError.get(svc.id) !== `${name}: ${msg}`) ctx.log('warn', `service ${svc.name}: replica ${name} failed: ${msg}`);
      this.lastError.set(svc.id, `${name}: ${msg}`);
      if (id) await this.sandboxes.remove(id, true).catch(() => undefined);
    }
  }

  /** Whether a rolling update is under way (service inspect's UpdateStatus). */
  isRolling(id: string): boolean {
    const svc = this.ctx.state.services?.[id];
    return this.rolling.has(id) || (!!svc?.cluster && this.hasOldReplicas(svc));
  }
}
