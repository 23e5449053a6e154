// Which replicas of each service are in rotation, and at which addresses. Pure: the firewall
// view (VIP maps), the DNS view (service names, tasks.N, SRV) and the service API all read it,
// so they agree on one definition: a replica is in rotation while it runs and, when it has a
// health check, while that check says healthy (not while starting, not when unhealthy).
import type { BerthState, Ipv4, SandboxRecord, ServiceRecord } from '../model/types.js';

export const LABEL_SERVICE_ID = 'com.docker.swarm.service.id';
export const LABEL_SERVICE_NAME = 'com.docker.swarm.service.name';
export const LABEL_TASK_SLOT = 'com.docker.swarm.task.slot';
/** The service version a replica was made from (rolling updates replace older ones). */
export const LABEL_SERVICE_VERSION = 'berth.service.version';

export interface TaskInRotation {
  sandbox: string;
  slot: number;
  ip: Ipv4;
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
  if (sb.state.status !== 'running') return false;
  if (!sb.config.healthcheck) return true;
  return sb.state.health?.status === 'healthy';
}

/** Every service on every network it is attached to, with its replicas in rotation there. */
export function servicesOnNetworks(state: BerthState): ServiceOnNetwork[] {
  const out: ServiceOnNetwork[] = [];
  const services = Object.values(state.services ?? {}).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const svc of services) {
    const replicas = replicasOf(state, svc)
      .filter(inRotation)
      .sort((a, b) => slotOf(a) - slotOf(b) || (a.name < b.name ? -1 : 1));
    for (const networkId of svc.spec.networks) {
      const net = state.networks[networkId];
      if (!net) continue;
      const tasks: TaskInRotation[] = [];
      for (const r of replicas) {
        const ip = r.endpoints[networkId]?.ip;
        if (ip) tasks.push({ sandbox: r.name, slot: slotOf(r), ip });
      }
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
