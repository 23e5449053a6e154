// Which replicas of each service are in rotation, and at which addresses. Pure: the firewall
// view (VIP maps), the DNS view (service names, tasks.N, SRV) and the service API all read it,
// so they agree on one definition: a replica is in rotation while it runs and, when it has a
// health check, while that check says healthy (not while starting, not when unhealthy).
import type { BerthState, Ipv4, RemoteTask, SandboxRecord, ServiceRecord } from '../model/types.js';

export const LABEL_SERVICE_ID = 'com.docker.swarm.service.id';
export const LABEL_SERVICE_NAME = 'com.docker.swarm.service.name';
export const LABEL_TASK_SLOT = 'com.docker.swarm.task.slot';
/** The service version a replica was made from (rolling updates replace older ones). */
export const LABEL_SERVICE_VERSION = 'berth.service.version';

export interface TaskInRotation {
  sandbox: string;
  slot: number;
  ip: Ipv4;
  /** The node it runs on when that is another host (services across hosts); absent: here. */
  node?: string;
}

export interface ServiceOnNetwork {
  service: ServiceRecord;
  networkId: string;
  networkName: string;
  /** vip mode only. */
  vip?: Ipv4;
  /** Healthy replicas' addresses on this network, by slot. */
  tasks: TaskInRotation[];
}

export function replicasOf(state: BerthState, svc: ServiceRecord): SandboxRecord[] {
  return Object.values(state.sandboxes).filter((s) => s.config.labels?.[LABEL_SERVICE_ID] === svc.id);
}

export function slotOf(sb: SandboxRecord): number {
  return Number(sb.config.labels?.[LABEL_TASK_SLOT] ?? 0);
}

export function inRotation(sb: SandboxRecord): boolean {
  if (sb.state.status !== 'running' || sb.state.draining) return false;
  if (!sb.config.healthcheck) return true;
  return sb.state.health?.status === 'healthy';
}

/** Every service on every network it is attached to, with its replicas in rotation there. */
export function servicesOnNetworks(state: BerthState): ServiceOnNetwork[] {
  const out: ServiceOnNetwork[] = [];
  // No services (the usual host): skip the pass over every sandbox, which runs at every change.
  let any = false;
  for (const _ in state.services) {
    any = true;
    break;
  }
  if (!any) return out;
  const services = Object.values(state.services ?? {}).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // One pass over the sandboxes (not one per service): this runs at every state change.
  const byService = new Map<string, SandboxRecord[]>();
  for (const sb of Object.values(state.sandboxes)) {
    const id = sb.config.labels?.[LABEL_SERVICE_ID];
    if (id === undefined || !inRotation(sb)) continue;
    const list = byService.get(id);
    if (list) list.push(sb);
    else byService.set(id, [sb]);
  }
  // Replicas on other hosts (services across hosts), in rotation as their host reports.
  const remote = new Map<string, RemoteTask[]>();
  for (const t of state.remoteTasks ?? []) {
    if (!t.inRotation) continue;
    const list = remote.get(t.serviceId);
    if (list) list.push(t);
    else remote.set(t.serviceId, [t]);
  }
  for (const svc of services) {
    const replicas = (byService.get(svc.id) ?? []).sort((a, b) => slotOf(a) - slotOf(b) || (a.name < b.name ? -1 : 1));
    const others = remote.get(svc.id) ?? [];
    for (const networkId of svc.spec.networks) {
      const net = state.networks[networkId];
      if (!net) continue;
      const tasks: TaskInRotation[] = [];
      for (const r of replicas) {
        const ip = r.endpoints[networkId]?.ip;
        if (ip) tasks.push({ sandbox: r.name, slot: slotOf(r), ip });
      }
      for (const t of others) {
        const ip = t.ips[networkId];
        if (ip) tasks.push({ sandbox: t.name, slot: t.slot, ip, node: t.node });
      }
      if (others.length) tasks.sort((a, b) => a.slot - b.slot || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
      const vip = svc.spec.endpointMode === 'vip' ? svc.vips[networkId] : undefined;
      out.push({ service: svc, networkId, networkName: net.name, ...(vip ? { vip } : {}), tasks });
    }
  }
  return out;
}

/** Slots in the VIP maps per VIP: a new flow takes slot (counter mod VIP_SLOTS). */
export const VIP_SLOTS = 60;

/**
 * The replica each slot leads to: slot i -> tasks[i mod n]. 60 is divisible by 1-6, 10, 12, 15,
 * 20 and 30, so for those replica counts the spread is exact round-robin.
 */
export function slotTargets<T>(tasks: readonly T[]): T[] {
  if (tasks.length === 0) return [];
  return Array.from({ length: VIP_SLOTS }, (_, i) => tasks[i % tasks.length]!);
}

/** A replica that left a VIP's (or a published service port's) rotation: its UDP flows go. */
export interface LeftRotation {
  vip?: Ipv4;
  hostPort?: number;
  replica: Ipv4;
}

/** What a rotation is keyed by: a VIP, or a published UDP port of a service. */
export interface RotationEntry {
  vip?: Ipv4;
  hostPort?: number;
  replicas: Set<Ipv4>;
}

/** "vip IP" and "port P" (UDP published service ports) -> the replicas in rotation there. */
export function rotationKeys(state: BerthState): Map<string, RotationEntry> {
  const m = new Map<string, RotationEntry>();
  for (const s of servicesOnNetworks(state)) {
    const ips = s.tasks.map((t) => t.ip);
    if (s.vip) m.set(`vip ${s.vip}`, { vip: s.vip, replicas: new Set(ips) });
    for (const p of s.service.spec.ports) {
      if (p.proto !== 'udp' || !p.published) continue;
      const cur = m.get(`port ${p.published}`) ?? { hostPort: p.published, replicas: new Set<Ipv4>() };
      for (const ip of ips) cur.replicas.add(ip);
      m.set(`port ${p.published}`, cur);
    }
  }
  return m;
}

/** Replicas in `before` but not in `after`, per VIP or UDP service port. */
export function leftRotation(before: Map<string, RotationEntry>, after: Map<string, RotationEntry>): LeftRotation[] {
  const out: LeftRotation[] = [];
  for (const [key, was] of before) {
    const now = after.get(key)?.replicas ?? new Set<Ipv4>();
    for (const r of was.replicas) {
      if (now.has(r)) continue;
      out.push(was.vip ? { vip: was.vip, replica: r } : { hostPort: was.hostPort!, replica: r });
    }
  }
  return out;
}
