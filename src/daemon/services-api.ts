// The /services and /tasks routes (Docker's swarm API shapes where it has them).
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { healthcheckToApi } from '../model/healthcheck.js';
import type { RemoteTask, SandboxRecord, ServiceRecord } from '../model/types.js';
import { taskStateOf } from './cluster-tasks.js';
import { inRotation, LABEL_SERVICE_VERSION, slotOf } from '../plan/service-view.js';
import type { ServiceManager } from '../services/service-manager.js';
import type { Ctx } from './context.js';
import { created, HANDLED, type Router } from './http.js';
import { createServiceBody, serviceParams, updateServiceBody } from './schema/service-schemas.js';

const NS_PER_MS = 1_000_000;

export function serviceInspect(ctx: Ctx, svc: ServiceRecord, mgr: ServiceManager): Record<string, unknown> {
  const s = svc.spec;
  const ports = s.ports.map((p) => ({ Protocol: p.proto, TargetPort: p.target, ...(p.published ? { PublishedPort: p.published, PublishMode: p.mode ?? 'ingress' } : {}) }));
  const remote = svc.cluster ? (ctx.state.remoteTasks ?? []).filter((t) => t.serviceId === svc.id && t.state === 'running').length : 0;
  const running = mgr.replicas(svc).filter((r) => r.state.status === 'running').length + remote;
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
      ...(s.constraints ? { Placement: { Constraints: s.constraints } } : {}),
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

/** This host's name in task listings: its cluster node name, else its hostname. */
function nodeName(ctx: Ctx): string {
  return ctx.cfg.cluster?.nodeName ?? hostname();
}

/** A replica on another host (services across hosts), as its host reported it. */
function remoteTaskShape(ctx: Ctx, svc: ServiceRecord, t: RemoteTask): Record<string, unknown> {
  return {
    ID: t.sandboxId.slice(0, 25),
    ServiceID: svc.id,
    Slot: t.slot,
    Name: t.name,
    NodeID: t.node,
    DesiredState: 'running',
    Status: { Timestamp: t.startedAt, State: t.state, ...(t.health ? { Health: t.health } : {}) },
    InRotation: t.inRotation,
    NetworksAttachments: Object.entries(t.ips).map(([netId, ip]) => {
      const net = ctx.state.networks[netId];
      return { Network: { ID: netId, Spec: { Name: net?.name ?? '' } }, Addresses: [`${ip}/${net?.subnet?.split('/')[1] ?? '32'}`] };
    }),
  };
}

/** A replica in the shape of a swarm task. */
export function taskShape(ctx: Ctx, svc: ServiceRecord, sb: SandboxRecord): Record<string, unknown> {
  return {
    ID: sb.id.slice(0, 25),
    ServiceID: svc.id,
    Slot: slotOf(sb),
    Name: sb.name,
    NodeID: nodeName(ctx),
    Version: { Index: Number(sb.config.labels?.[LABEL_SERVICE_VERSION] ?? 0) },
    CreatedAt: sb.created,
    DesiredState: 'running',
    Status: {
      Timestamp: sb.state.status === 'running' ? sb.state.startedAt : sb.state.finishedAt,
      State: taskStateOf(sb),
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

export function registerServiceRoutes(r: Router, ctx: Ctx, mgr: ServiceManager): void {
  r.route({ method: 'POST', path: '/services/create', body: createServiceBody }, async (q) => {
    const svc = await mgr.create(q.body);
    return created({ ID: svc.id, Warnings: [] });
  });
  r.route({ method: 'GET', path: '/services' }, async () => mgr.list().map((s) => serviceInspect(ctx, s, mgr)));
  r.route({ method: 'GET', path: '/services/{id}', params: serviceParams }, async (q) => serviceInspect(ctx, mgr.service(q.params.id), mgr));
  r.route({ method: 'POST', path: '/services/{id}/update', params: serviceParams, body: updateServiceBody }, async (q) => {
    const b = q.body;
    await mgr.update(q.params.id, {
      ...(b.Replicas !== undefined ? { replicas: b.Replicas } : {}),
      ...(b.EnvAdd ? { envAdd: b.EnvAdd } : {}),
      ...(b.UpdateConfig?.Parallelism !== undefined ? { parallelism: b.UpdateConfig.Parallelism } : {}),
      ...(b.UpdateConfig?.Delay !== undefined ? { delayMs: Math.round(b.UpdateConfig.Delay / NS_PER_MS) } : {}),
    });
    return { Warnings: [] };
  });
  r.route({ method: 'DELETE', path: '/services/{id}', params: serviceParams }, async (q) => mgr.remove(q.params.id));
  r.route({ method: 'GET', path: '/services/{id}/tasks', params: serviceParams }, async (q) => {
    const svc = mgr.service(q.params.id);
    const local = mgr.replicas(svc).map((sb) => taskShape(ctx, svc, sb));
    if (!svc.cluster) return local;
    const remote = (ctx.state.remoteTasks ?? []).filter((t) => t.serviceId === svc.id).map((t) => remoteTaskShape(ctx, svc, t));
    const unplaced = mgr.cluster?.unplaced(svc) ?? { slots: [], stuck: false };
    const pending = unplaced.slots.map((slot) => ({
      ID: '',
      ServiceID: svc.id,
      Slot: slot,
      Name: `${svc.name}.${slot}`,
      NodeID: '',
      DesiredState: 'running',
      Status: { Timestamp: svc.updated, State: 'pending', ...(unplaced.stuck ? { Err: `no suitable node (${(svc.spec.constraints ?? []).join(', ') || 'no live host'})` } : {}) },
      NetworksAttachments: [],
    }));
    return [...local, ...remote, ...pending].sort((a, b) => (a['Slot'] as number) - (b['Slot'] as number) || String(a['NodeID']).localeCompare(String(b['NodeID'])));
  });
  r.route({ method: 'GET', path: '/services/{id}/logs', params: serviceParams }, async (q) => {
    const svc = mgr.service(q.params.id);
    q.res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    for (const sb of mgr.replicas(svc)) {
      const path = join(ctx.sandboxDir(sb.id), 'log');
      const size = (await stat(path).catch(() => ({ size: 0 }))).size;
      const fh = await open(path, 'r').catch(() => undefined);
      if (!fh) continue;
      try {
        const buf = Buffer.alloc(Math.min(size, 1 << 20));
        const { bytesRead } = await fh.read(buf, 0, buf.length, Math.max(0, size - buf.length));
        const prefix = `${sb.name}@${nodeName(ctx)}    | `;
        for (const line of buf.subarray(0, bytesRead).toString('utf8').split('\n')) if (line) q.res.write(prefix + line + '\n');
      } finally {
        await fh.close();
      }
    }
    // Across hosts a replica's output stays on its host (berthd has no API between hosts): say
    // where each other replica runs, so the user can ask that host.
    if (svc.cluster) {
      for (const t of (ctx.state.remoteTasks ?? []).filter((x) => x.serviceId === svc.id).sort((a, b) => a.slot - b.slot)) {
        q.res.write(`${t.name}@${t.node}    | (runs on host ${t.node}: its output is kept there; run berth service logs ${svc.name} on ${t.node})\n`);
      }
    }
    q.res.end();
    return HANDLED;
  });
}
