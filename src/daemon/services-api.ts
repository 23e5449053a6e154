// The /services and /tasks routes (Docker's swarm API shapes where it has them).
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { BadRequest } from '../model/errors.js';
import { healthcheckToApi } from '../model/healthcheck.js';
import type { SandboxRecord, ServiceRecord } from '../model/types.js';
import { inRotation, LABEL_SERVICE_VERSION, slotOf } from '../plan/service-view.js';
import type { ServiceManager, UpdateRequest } from '../services/service-manager.js';
import type { Ctx } from './context.js';
import { HANDLED, type Router } from './http.js';

const NS_PER_MS = 1_000_000;

export function serviceInspect(ctx: Ctx, svc: ServiceRecord, mgr: ServiceManager): Record<string, unknown> {
  const s = svc.spec;
  const ports = s.ports.map((p) => ({ Protocol: p.proto, TargetPort: p.target, ...(p.published ? { PublishedPort: p.published, PublishMode: 'ingress' } : {}) }));
  const running = mgr.replicas(svc).filter((r) => r.state.status === 'running').length;
  return {
    ID: svc.id,
    Version: { Index: svc.version },
    CreatedAt: svc.created,
    UpdatedAt: svc.updated,
    Spec: {
      Name: svc.name,
      Labels: s.labels,
      TaskTemplate: {
        ContainerSpec: {
          Command: s.cmd,
          Env: s.env,
          ...(s.rootfs ? { Rootfs: s.rootfs } : {}),
          ...(s.healthcheck ? { Healthcheck: healthcheckToApi(s.healthcheck) } : {}),
        },
        Networks: s.networks.map((id) => ({ Target: id, Aliases: s.aliases })),
      },
      Mode: { Replicated: { Replicas: s.replicas } },
      UpdateConfig: { Parallelism: s.update.parallelism, Delay: s.update.delayMs * NS_PER_MS, Order: 'stop-first' },
      EndpointSpec: { Mode: s.endpointMode, Ports: ports },
    },
    Endpoint: {
      Spec: { Mode: s.endpointMode, Ports: ports },
      Ports: ports,
      VirtualIPs: Object.entries(svc.vips).map(([netId, ip]) => {
        const net = ctx.state.networks[netId];
        const len = net?.subnet?.split('/')[1] ?? '32';
        return { NetworkID: netId, Addr: `${ip}/${len}` };
      }),
    },
    ServiceStatus: { RunningTasks: running, DesiredTasks: s.replicas },
    ...(mgr.isRolling(svc.id) ? { UpdateStatus: { State: 'updating', Message: 'update in progress' } } : {}),
  };
}

function taskState(sb: SandboxRecord): string {
  if (sb.state.status === 'running') return 'running';
  if (sb.state.status === 'created') return 'starting';
  return sb.state.exitCode === 0 ? 'complete' : 'failed';
}

/** A replica in the shape of a swarm task. */
export function taskShape(ctx: Ctx, svc: ServiceRecord, sb: SandboxRecord): Record<string, unknown> {
  return {
    ID: sb.id.slice(0, 25),
    ServiceID: svc.id,
    Slot: slotOf(sb),
    Name: sb.name,
    NodeID: hostname(),
    Version: { Index: Number(sb.config.labels?.[LABEL_SERVICE_VERSION] ?? 0) },
    CreatedAt: sb.created,
    DesiredState: 'running',
    Status: {
      Timestamp: sb.state.status === 'running' ? sb.state.startedAt : sb.state.finishedAt,
      State: taskState(sb),
      Message: sb.state.status === 'running' ? 'started' : sb.state.error,
      ...(sb.state.error ? { Err: sb.state.error } : {}),
      ContainerStatus: { ContainerID: sb.id, PID: sb.state.pid, ExitCode: sb.state.exitCode },
      ...(sb.state.health ? { Health: sb.state.health.status } : {}),
    },
    InRotation: inRotation(sb),
    NetworksAttachments: Object.values(sb.endpoints).map((ep) => ({
      Network: { ID: ep.networkId, Spec: { Name: ctx.state.networks[ep.networkId]?.name ?? '' } },
      Addresses: ep.ip ? [`${ep.ip}/${ep.prefixLen}`] : [],
    })),
  };
}

function num(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadRequest(`invalid ${what}: give a number`);
  return v;
}

/** Docker's update body is a whole ServiceSpec; berth takes the fields it changes. */
function updateRequestOf(body: unknown): UpdateRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('invalid update: expected an object');
  const b = body as Record<string, unknown>;
  const env = b['EnvAdd'];
  if (env !== undefined && (!Array.isArray(env) || !env.every((e) => typeof e === 'string'))) throw new BadRequest('invalid EnvAdd: expected a list of KEY=VALUE strings');
  const uc = (b['UpdateConfig'] ?? {}) as Record<string, unknown>;
  const delayNs = num(uc['Delay'], 'UpdateConfig.Delay');
  if (delayNs !== undefined && delayNs < 0) throw new BadRequest('invalid --update-delay: it cannot be negative');
  const replicas = num(b['Replicas'], 'replicas');
  const parallelism = num(uc['Parallelism'], 'UpdateConfig.Parallelism');
  return {
    ...(replicas !== undefined ? { replicas } : {}),
    ...(env ? { envAdd: env as string[] } : {}),
    ...(parallelism !== undefined ? { parallelism } : {}),
    ...(delayNs !== undefined ? { delayMs: Math.round(delayNs / NS_PER_MS) } : {}),
  };
}

export function registerServiceRoutes(r: Router, ctx: Ctx, mgr: ServiceManager): void {
  r.on('POST', '/services/create', async (q) => {
    const svc = await mgr.create(q.body);
    return { __status: 201, ID: svc.id, Warnings: [] };
  });
  r.on('GET', '/services', async () => mgr.list().map((s) => serviceInspect(ctx, s, mgr)));
  r.on('GET', '/services/{id}', async (q) => serviceInspect(ctx, mgr.service(q.params[0]!), mgr));
  r.on('POST', '/services/{id}/update', async (q) => {
    await mgr.update(q.params[0]!, updateRequestOf(q.body));
    return { Warnings: [] };
  });
  r.on('DELETE', '/services/{id}', async (q) => mgr.remove(q.params[0]!));
  r.on('GET', '/services/{id}/tasks', async (q) => {
    const svc = mgr.service(q.params[0]!);
    return mgr.replicas(svc).map((sb) => taskShape(ctx, svc, sb));
  });
  r.on('GET', '/services/{id}/logs', async (q) => {
    const svc = mgr.service(q.params[0]!);
    q.res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    for (const sb of mgr.replicas(svc)) {
      const path = join(ctx.sandboxDir(sb.id), 'log');
      const size = (await stat(path).catch(() => ({ size: 0 }))).size;
      const fh = await open(path, 'r').catch(() => undefined);
      if (!fh) continue;
      try {
        const buf = Buffer.alloc(Math.min(size, 1 << 20));
        const { bytesRead } = await fh.read(buf, 0, buf.length, Math.max(0, size - buf.length));
        const prefix = `${sb.name}@${hostname()}    | `;
        for (const line of buf.subarray(0, bytesRead).toString('utf8').split('\n')) if (line) q.res.write(prefix + line + '\n');
      } finally {
        await fh.close();
      }
    }
    q.res.end();
    return HANDLED;
  });
}

