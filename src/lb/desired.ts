// What a load balancer's HAProxy should hold, from berth's state. Pure.
//
// Each route (and the default) names a service and a port; its back-end lists the service's
// replicas in rotation (running, and healthy when they have a health check: the same rule as the
// VIPs and DNS, plan/service-view.ts) at their address on the first of the load balancer's
// back-end networks they are attached to. A service whose source is merely unavailable (it wants
// replicas but none exists at the moment: berthd starting, every replica being replaced; or its
// record is not there) is reported so the last good servers are kept (last-good.ts): HAProxy's
// own checks still take dead servers out. Ports are resolved when a route is made and stored.
import type { BerthState, LbRecord, LbTarget, SandboxRecord, ServiceRecord } from '../model/types.js';
import { inRotation, replicasOf } from '../plan/service-view.js';
import { backendName, serverName, type RenderBackend, type RenderInput } from './config.js';

export interface Desired {
  input: RenderInput;
  /** Back-end ids whose source is unavailable (keep their last servers). */
  unavailable: Set<string>;
  /** Why a target has no back-end port (shown by inspect). */
  problems: string[];
}

export function serviceByName(state: BerthState, name: string): ServiceRecord | undefined {
  return Object.values(state.services ?? {}).find((s) => s.name === name);
}

/** The target port: the route's, else the service's first TCP target port. 0 when neither. */
export function targetPort(state: BerthState, t: LbTarget): number {
  if (t.port) return t.port;
  return serviceByName(state, t.service)?.spec.ports.find((p) => p.proto === 'tcp')?.target ?? 0;
}

function addressOn(sb: SandboxRecord, networks: readonly string[]): string | undefined {
  for (const n of networks) {
    const ip = sb.endpoints[n]?.ip;
    if (ip) return ip;
  }
  return undefined;
}

export function desiredInput(state: BerthState, rec: LbRecord, runDir: string): Desired {
  const spec = rec.spec;
  const backends = new Map<string, RenderBackend>();
  const unavailable = new Set<string>();
  const problems: string[] = [];
  const backendFor = (t: LbTarget): string | undefined => {
    const port = targetPort(state, t);
    if (!port) {
      problems.push(`service ${t.service} publishes no TCP port: give ${t.service}:PORT`);
      return undefined;
    }
    const id = backendName(t.service, port);
    if (backends.has(id)) return id;
    const svc = serviceByName(state, t.service);
    if (!svc) problems.push(`service ${t.service} not found`);
    const replicas = svc ? replicasOf(state, svc) : [];
    if (!svc || (svc.spec.replicas > 0 && replicas.length === 0)) unavailable.add(id);
    const servers = replicas
      .filter(inRotation)
      .flatMap((sb) => {
        const ip = addressOn(sb, spec.networks);
        return ip ? [{ name: serverName(sb.name), ip, port }] : [];
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    backends.set(id, { id, service: t.service, port, servers });
    return id;
  };
  const routes: RenderInput['routes'] = [];
  for (const r of spec.routes) {
    const id = backendFor(r);
    if (id) routes.push({ host: r.host, backend: id });
  }
  const defaultBackend = spec.default ? backendFor(spec.default) : undefined;
  const input: RenderInput = {
    lb: rec.name,
    port: spec.port,
    routes,
    ...(defaultBackend ? { defaultBackend } : {}),
    backends: [...backends.values()],
    check: spec.check,
    ...(spec.stats ? { stats: spec.stats } : {}),
    ...(spec.slots ? { slots: spec.slots } : {}),
    runDir,
  };
  return { input, unavailable, problems };
}
