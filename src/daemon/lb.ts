// berth lb: load balancers made of HAProxy in a sandbox, kept in step with the services.
//
// A load balancer is a record in state (state.lbs) and an ordinary sandbox of the same name
// running `haproxy -W -S master.sock -f haproxy.cfg`, attached first to its front network (which
// publishes its port, default bridge) and then to its back-end networks (which may be internal).
// Its files live in DATA_ROOT/lb/NAME. As a state follower it computes, after every change, what
// HAProxy should hold (lb/desired.ts) and hands it to that load balancer's driver, which changes
// servers through the runtime API and reloads only for structural changes (lb/driver.ts). The
// driver runs outside berthd's lock: a drain that waits for sessions to end holds nothing up.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BadRequest, Conflict, NotFound } from '../model/errors.js';
import { validateName } from '../model/names.js';
import type { BerthState, LbRecord, LbRoute, LbSpec, LbTarget, NetworkId } from '../model/types.js';
import { masterSocket, type RenderInput } from '../lb/config.js';
import { desiredInput, serviceByName, targetPort } from '../lb/desired.js';
import { HaproxyDriver, writeInitialConfig } from '../lb/driver.js';
import { keepLastGood } from '../lb/last-good.js';
import { checkRoutes } from '../lb/spec.js';
import { serverRows, type StatRow } from '../lb/stats-csv.js';
import { inRotation, replicasOf } from '../plan/service-view.js';
import type { Ctx, StateFollower } from './context.js';
import type { Sandboxes } from './sandboxes.js';
import { createSandboxBody } from './schema/container-schemas.js';
import type { CreateLbInput } from './schema/lb-schemas.js';

export const LABEL_LB = 'berth.lb';

/** The servers a running HAProxy holds, per back-end (from its stats), as render input. */
async function liveBackends(driver: HaproxyDriver): Promise<RenderInput['backends']> {
  const byBackend = new Map<string, RenderInput['backends'][number]>();
  await driver.slots();
  for (const r of serverRows(await driver.api.stats())) {
    const m = /^(.*):(\d+)$/.exec(r.addr);
    const id = driver.backendOf(r.pxname);
    if (!m || !id) continue;
    const be = byBackend.get(id) ?? { id, service: '', port: Number(m[2]), servers: [] };
    be.servers.push({ name: r.svname, ip: m[1]!, port: Number(m[2]) });
    byBackend.set(id, be);
  }
  return [...byBackend.values()];
}

interface Running {
  driver: HaproxyDriver;
  /** After a berthd restart: the servers HAProxy holds, read once, as the last good state. */
  live?: RenderInput['backends'];
  retry: NodeJS.Timeout | undefined;
  /** Start time of the sandbox the driver talks to: a restarted HAProxy starts from its file. */
  startedAt: string;
}

/** A route's or the default's service exists, is on one of the back-end networks and has a port. */
function checkTarget(state: BerthState, networks: readonly string[], t: LbTarget): void {
  const svc = serviceByName(state, t.service);
  if (!svc) throw new NotFound(`service ${t.service} not found: create it first (berth service create --name ${t.service} ...)`);
  if (!svc.spec.networks.some((n) => networks.includes(n))) {
    const names = networks.map((n) => state.networks[n]?.name ?? n).join(', ');
    throw new BadRequest(`service ${t.service} is not on any back-end network of the load balancer (${names}): add --network with one of its networks`);
  }
  if (!targetPort(state, t)) throw new BadRequest(`service ${t.service} publishes no TCP port: give ${t.service}:PORT`);
}

export class LoadBalancers implements StateFollower {
  private readonly running = new Map<string, Running>();
  private closed = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly sandboxes: Sandboxes,
  ) {}

  dir(name: string): string {
    return join(this.ctx.cfg.dataRoot, 'lb', name);
  }

  list(): LbRecord[] {
    return Object.values(this.ctx.state.lbs ?? {}).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  record(name: string): LbRecord {
    const rec = this.ctx.state.lbs?.[name];
    if (!rec) throw new NotFound(`load balancer ${name} not found`);
    return rec;
  }

  /** Checks that every route and the default lead to a service on a back-end network with a port. */
  private checkTargets(state: BerthState, spec: LbSpec): void {
    checkRoutes(spec.routes);
    const targets = [...spec.routes, ...(spec.default ? [spec.default] : [])];
    if (targets.length === 0) throw new BadRequest('give at least one --route HOST=SERVICE[:PORT] or a --default SERVICE[:PORT]');
    for (const t of targets) checkTarget(state, spec.networks, t);
  }

  async create(body: CreateLbInput): Promise<LbRecord> {
    const ctx = this.ctx;
    const name = body.Name;
    const rec = await ctx.lock.run(async () => {
      if (ctx.state.lbs?.[name]) throw new Conflict(`load balancer ${name} already exists`);
      if (Object.values(ctx.state.sandboxes).some((s) => s.name === name)) throw new Conflict(`Conflict. The container name "/${name}" is already in use: the load balancer's sandbox takes its name`);
      const networks: NetworkId[] = [];
      for (const ref of body.Networks) {
        const net = ctx.network(ref);
        if (net.driver !== 'bridge') throw new BadRequest(`network ${net.name} is not a bridge network: a load balancer's back-end networks are bridges`);
        if (!networks.includes(net.id as NetworkId)) networks.push(net.id as NetworkId);
      }
      const front = ctx.network(body.Front || 'bridge');
      if (front.driver !== 'bridge' || front.internal) throw new BadRequest(`front network ${front.name} cannot publish a port (${front.internal ? 'internal' : front.driver}): give --front with a bridge network that is not internal`);
      if (body.StatsAuth && !body.Stats) throw new BadRequest('--stats-auth needs --stats PATH');
      const spec: LbSpec = {
        networks: networks.filter((n) => n !== front.id),
        front: front.id as NetworkId,
        published: body.Publish.published,
        port: body.Publish.port,
        routes: body.Routes,
        ...(body.Default ? { default: body.Default } : {}),
        check: body.Check ?? { kind: 'http', path: '/' },
        ...(body.Stats ? { stats: { uri: body.Stats, ...(body.StatsAuth ?? {}) } } : {}),
        ...(body.Slots ? { slots: body.Slots } : {}),
      };
      if (spec.networks.length === 0) throw new BadRequest('give at least one back-end network other than the front network (--network NET)');
      this.checkTargets(ctx.state, spec);
      // Ports are fixed now: a back-end keeps its name (and its servers) while its service is away.
      spec.routes = spec.routes.map((r) => ({ ...r, port: targetPort(ctx.state, r) }));
      if (spec.default) spec.default = { ...spec.default, port: targetPort(ctx.state, spec.default) };
      const r: LbRecord = { name, created: new Date().toISOString(), sandboxId: '', spec };
      (ctx.state.lbs ??= {})[name] = r;
      await ctx.persist();
      return r;
    });
    let sandboxId = '';
    try {
      const dir = this.dir(name);
      await mkdir(dir, { recursive: true });
      const first = desiredInput(ctx.state, rec, dir).input;
      await writeInitialConfig(first, join(dir, 'haproxy.cfg'));
      const frontName = ctx.state.networks[rec.spec.front]!.name;
      const endpoints: Record<string, { Aliases: string[] }> = { [frontName]: { Aliases: [] } };
      for (const id of rec.spec.networks) endpoints[ctx.state.networks[id]!.name] = { Aliases: [] };
      const port = `${rec.spec.port}/tcp`;
      const req = {
        Cmd: ['haproxy', '-W', '-S', masterSocket(dir), '-f', join(dir, 'haproxy.cfg')],
        Labels: { [LABEL_LB]: name },
        Healthcheck: null,
        ExposedPorts: { [port]: {} },
        HostConfig: { NetworkMode: frontName, PortBindings: { [port]: [{ HostPort: String(rec.spec.published) }] } },
        NetworkingConfig: { EndpointsConfig: endpoints },
      };
      const { sb } = await this.sandboxes.create(validateName('container', name), createSandboxBody.parse(req));
      sandboxId = sb.id;
      await ctx.lock.run(async () => {
        rec.sandboxId = sb.id;
        await ctx.persist();
      });
      this.running.set(name, { driver: this.newDriver(name, first), retry: undefined, startedAt: '' });
      await this.sandboxes.start(sb.id);
      ctx.log('info', `load balancer ${name} created (port ${rec.spec.published}, ${rec.spec.routes.length} routes)`);
      return rec;
    } catch (err) {
      this.forget(name);
      if (sandboxId) await this.sandboxes.remove(sandboxId, true).catch(() => undefined);
      await ctx.lock.run(async () => {
        delete ctx.state.lbs?.[name];
        await ctx.persist();
      });
      await rm(this.dir(name), { recursive: true, force: true });
      throw err;
    }
  }

  private newDriver(name: string, started?: RenderInput): HaproxyDriver {
    const dir = this.dir(name);
    const d = new HaproxyDriver({ configPath: join(dir, 'haproxy.cfg'), runDir: dir, log: (level, msg) => this.ctx.log(level, msg) });
    if (started) d.started(started);
    return d;
  }

  private forget(name: string): void {
    const r = this.running.get(name);
    if (r?.retry) clearTimeout(r.retry);
    this.running.delete(name);
  }

  async remove(name: string): Promise<void> {
    const ctx = this.ctx;
    const rec = await ctx.lock.run(async () => {
      const r = this.record(name);
      delete ctx.state.lbs![name];
      await ctx.persist();
      return r;
    });
    this.forget(name);
    if (rec.sandboxId && ctx.state.sandboxes[rec.sandboxId]) await this.sandboxes.remove(rec.sandboxId, true);
    await rm(this.dir(name), { recursive: true, force: true });
    ctx.log('info', `load balancer ${name} removed`);
  }

  private async changeRoutes(name: string, edit: (routes: LbRoute[]) => LbRoute[], added?: LbRoute): Promise<void> {
    const ctx = this.ctx;
    await ctx.lock.run(async () => {
      const rec = this.record(name);
      const before = rec.spec;
      // Only the new route is checked against the services: the others were when they were made.
      if (added) checkTarget(ctx.state, before.networks, added);
      const spec = { ...before, routes: edit([...before.routes]) };
      checkRoutes(spec.routes);
      if (spec.routes.length === 0 && !spec.default) throw new BadRequest(`load balancer ${name} would have no route and no default: remove it instead (berth lb rm ${name})`);
      rec.spec = spec;
      try {
        await ctx.follow();
        await ctx.persist();
      } catch (err) {
        rec.spec = before;
        throw err;
      }
    });
    // The route is in HAProxy when the call returns (runtime API: a slot, its servers, hosts.map).
    await this.settle(name);
  }

  addRoute(name: string, route: LbRoute): Promise<void> {
    return this.changeRoutes(name, (routes) => {
      if (routes.some((r) => r.host === route.host)) throw new Conflict(`host ${route.host} is already routed by load balancer ${name}: remove it first (berth lb route rm ${name} ${route.host})`);
      return [...routes, { ...route, port: targetPort(this.ctx.state, route) }];
    }, route);
  }

  removeRoute(name: string, host: string): Promise<void> {
    const h = host.toLowerCase().replace(/\.$/, '');
    return this.changeRoutes(name, (routes) => {
      if (!routes.some((r) => r.host === h)) throw new NotFound(`load balancer ${name} has no route for host ${h}`);
      return routes.filter((r) => r.host !== h);
    });
  }

  /** Waits until the driver has applied the current wanted input (or failed doing so). */
  private async settle(name: string): Promise<void> {
    const run = this.running.get(name);
    const want = this.wanted(name);
    if (run && want) await run.driver.apply(want);
  }

  private wanted(name: string): RenderInput | undefined {
    const rec = this.ctx.state.lbs?.[name];
    const sb = rec ? this.ctx.state.sandboxes[rec.sandboxId] : undefined;
    if (!rec || !sb || sb.state.status !== 'running') return undefined;
    const d = desiredInput(this.ctx.state, rec, this.dir(name));
    const run = this.running.get(name);
    const prev = run?.driver.applied?.backends ?? run?.live ?? [];
    return { ...d.input, backends: keepLastGood(prev, d.input.backends, d.unavailable) };
  }

  // ---- StateFollower: called under the lock after every change; never waits for HAProxy. ----

  async sync(state: BerthState): Promise<void> {
    if (this.closed) return;
    for (const rec of Object.values(state.lbs ?? {})) {
      const sb = state.sandboxes[rec.sandboxId];
      if (!sb || sb.state.status !== 'running') continue;
      let run = this.running.get(rec.name);
      if (!run) {
        // After a berthd restart: the first apply reloads from a fresh file.
        run = { driver: this.newDriver(rec.name), retry: undefined, startedAt: sb.state.startedAt };
        this.running.set(rec.name, run);
      } else if (run.startedAt !== sb.state.startedAt) {
        run.startedAt = sb.state.startedAt;
      }
      this.push(rec.name);
    }
  }

  async reconcile(state: BerthState): Promise<void> {
    await this.sync(state);
  }

  private push(name: string): void {
    const run = this.running.get(name);
    if (!run) return;
    const seed = !run.driver.applied && !run.live ? liveBackends(run.driver).then((b) => void (run.live = b)) : Promise.resolve();
    seed
      .then(() => {
        const want = this.wanted(name);
        return want ? run.driver.apply(want) : undefined;
      })
      .catch((err: Error) => {
      if (this.closed || this.running.get(name) !== run) return;
      this.ctx.log('debug', `load balancer ${name}: ${err.message}; retrying`);
      if (run.retry) return;
      run.retry = setTimeout(() => {
        run.retry = undefined;
        this.push(name);
      }, 500);
      run.retry.unref();
      });
  }

  close(): void {
    this.closed = true;
    for (const name of [...this.running.keys()]) this.forget(name);
  }

  // ---- inspect ----

  async inspect(name: string): Promise<Record<string, unknown>> {
    const ctx = this.ctx;
    const rec = this.record(name);
    const sb = ctx.state.sandboxes[rec.sandboxId];
    const netName = (id: string) => ctx.state.networks[id]?.name ?? id;
    const d = desiredInput(ctx.state, rec, this.dir(name));
    const run = this.running.get(name);
    let rows: StatRow[] = [];
    let haproxy = 'running';
    if (!sb || sb.state.status !== 'running') haproxy = `not running (${sb?.state.status ?? 'no sandbox'})`;
    else if (run) {
      try {
        rows = serverRows(await run.driver.api.stats());
      } catch (err) {
        haproxy = `not answering: ${(err as Error).message}`;
      }
    }
    const replicaOf = new Map<string, { sandbox: string; inRotation: boolean }>();
    for (const svc of Object.values(ctx.state.services ?? {})) {
      for (const r of replicasOf(ctx.state, svc)) replicaOf.set(r.name, { sandbox: r.name, inRotation: inRotation(r) });
    }
    const backends = d.input.backends.map((be) => {
      const slot = run?.driver.slotOf(be.id);
      const live = rows.filter((r) => r.pxname === slot);
      const names = [...new Set([...be.servers.map((s) => s.name), ...live.map((r) => r.svname)])].sort();
      return {
        Name: be.id,
        Slot: slot ?? '',
        Service: be.service,
        Port: be.port,
        Servers: names.map((n) => {
          const want = be.servers.find((s) => s.name === n);
          const row = live.find((r) => r.svname === n);
          return {
            Name: n,
            Address: row?.addr || (want ? `${want.ip}:${want.port}` : ''),
            Status: row ? row.status : 'pending (not yet in HAProxy)',
            CheckStatus: row?.checkStatus ?? '',
            CheckCode: row?.checkCode ?? '',
            LastCheck: row?.lastCheck ?? '',
            CheckDurationMs: row?.checkDuration ?? 0,
            Sessions: row?.scur ?? 0,
            Wanted: Boolean(want),
            InRotation: replicaOf.get(n)?.inRotation ?? false,
          };
        }),
      };
    });
    return {
      Name: rec.name,
      Created: rec.created,
      Sandbox: sb?.name ?? '',
      HAProxy: haproxy,
      Front: netName(rec.spec.front),
      Networks: rec.spec.networks.map(netName),
      Ports: (sb?.ports ?? []).map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.proto}`),
      Published: rec.spec.published,
      Routes: rec.spec.routes.map((r) => ({ Host: r.host, Service: r.service, Port: targetPort(ctx.state, r), Backend: d.input.routes.find((x) => x.host === r.host)?.backend ?? '' })),
      Default: rec.spec.default ? { Service: rec.spec.default.service, Port: targetPort(ctx.state, rec.spec.default), Backend: d.input.defaultBackend ?? '' } : null,
      Check: rec.spec.check.kind === 'http' ? `http:${rec.spec.check.path}` : 'tcp',
      Stats: rec.spec.stats ? { Path: rec.spec.stats.uri, Auth: Boolean(rec.spec.stats.user) } : null,
      Backends: backends,
      /** Back-end slots HAProxy declares (routes to that many services change without a reload). */
      Slots: run ? (await run.driver.slots()).pool : 0,
      Problems: d.problems,
      Reloads: run?.driver.reloads ?? 0,
      RuntimeChanges: run?.driver.runtimeOps ?? 0,
      ConfigFile: join(this.dir(name), 'haproxy.cfg'),
    };
  }
}
