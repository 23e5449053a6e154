// The catalog as Consul shows it, computed from berth's state: an immutable snapshot built on
// every change (like the DNS view). Pure: no I/O, no clock.
//
// Two sources of instances:
// - replicas: running sandboxes labelled com.docker.swarm.service.name (the services feature
//   makes them; any sandbox with the labels counts). Their check is the sandbox's health:
//   healthy or no health check -> passing; starting or unhealthy -> critical (out of rotation,
//   as a swarm task that is not yet healthy).
// - external services registered through the agent API, with the results of the checks berthd
//   performs for them.
import type { CheckResult, CheckStatus, ExternalServiceRecord, InstanceFields } from '../model/catalog.js';
import type { BerthState, EndpointRecord, RemoteTask, SandboxRecord, ServiceRecord } from '../model/types.js';
import { LABEL_SERVICE_ID as SERVICE_ID_LABEL, LABEL_SERVICE_NAME as SERVICE_NAME_LABEL, LABEL_TASK_SLOT as TASK_SLOT_LABEL } from '../plan/service-view.js';

// The labels that tie a replica to its service (the services feature's).
export { LABEL_SERVICE_NAME as SERVICE_NAME_LABEL } from '../plan/service-view.js';

/** The berth host as a Consul node (and agent, and the only server). */
export interface NodeInfo {
  id: string;
  name: string;
  address: string;
  datacenter: string;
}

export interface CheckEntry {
  checkId: string;
  name: string;
  status: CheckStatus;
  output: string;
  notes: string;
  /** '' for the node check. */
  serviceId: string;
  serviceName: string;
  type: 'http' | 'tcp' | 'berth' | '';
  interval: number;
  timeout: number;
  /** Text of the check definition (HTTP URL or TCP address). */
  target: string;
}

export interface Instance extends InstanceFields {
  id: string;
  service: string;
  source: 'replica' | 'external';
  checks: CheckEntry[];
}

export interface CatalogView {
  readonly node: NodeInfo;
  /** Service name -> its instances sorted by id. */
  readonly services: ReadonlyMap<string, readonly Instance[]>;
}

/** The node's own check, which Consul lists beside every instance's checks. */
export function nodeCheck(node: NodeInfo): CheckEntry {
  return {
    checkId: 'serfHealth', name: 'Serf Health Status', status: 'passing', output: 'Agent alive and reachable', notes: '',
    serviceId: '', serviceName: '', type: '', interval: 0, timeout: 0, target: '',
  };
}

/** Status of an instance: the worst of its checks (and the node's, always passing here). */
export function aggregateStatus(checks: readonly CheckEntry[]): CheckStatus {
  if (checks.some((c) => c.status === 'critical')) return 'critical';
  if (checks.some((c) => c.status === 'warning')) return 'warning';
  return 'passing';
}

function ifIndex(ep: EndpointRecord): number {
  const m = /(\d+)$/.exec(ep.ifName);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

function replicaInstance(state: BerthState, sb: SandboxRecord, serviceName: string): Instance {
  const labels = sb.config.labels ?? {};
  const svcId = labels[SERVICE_ID_LABEL];
  const spec = svcId ? state.services?.[svcId]?.spec : undefined;
  // The address on the service's first network; otherwise the first interface's.
  const eps = Object.values(sb.endpoints).filter((e) => e.ip).sort((a, b) => ifIndex(a) - ifIndex(b));
  const first = spec?.networks[0];
  const ep = eps.find((e) => e.networkId === first) ?? eps[0];
  const port = spec?.ports.find((p) => p.proto === 'tcp')?.target ?? sb.config.exposedPorts.find((p) => p.proto === 'tcp')?.port ?? 0;
  const health = sb.state.health;
  const status: CheckStatus = !health || health.status === 'healthy' ? 'passing' : 'critical';
  const output = !health ? 'running (no health check)' : health.status === 'healthy' ? 'healthy' : health.status === 'starting' ? 'starting: not yet healthy' : `unhealthy (failing streak ${health.failingStreak ?? 0})`;
  const meta: Record<string, string> = { 'berth-sandbox': sb.name };
  if (labels[TASK_SLOT_LABEL]) meta['berth-task-slot'] = labels[TASK_SLOT_LABEL];
  if (svcId) meta['berth-service-id'] = svcId;
  const id = sb.name;
  return {
    id, service: serviceName, tags: [], address: ep?.ip ?? '', port, meta,
    weights: { passing: 1, warning: 1 }, enableTagOverride: false, source: 'replica',
    checks: [{
      checkId: `service:${id}`, name: `Service '${serviceName}' check`, status, output, notes: '',
      serviceId: id, serviceName, type: 'berth', interval: 0, timeout: 0, target: '',
    }],
  };
}

/** A replica on another host (services across hosts): its check is what its host reports. */
function remoteReplicaInstance(svc: ServiceRecord, t: RemoteTask): Instance {
  const first = svc.spec.networks[0];
  const address = (first ? t.ips[first] : undefined) ?? Object.values(t.ips)[0] ?? '';
  const port = svc.spec.ports.find((p) => p.proto === 'tcp')?.target ?? 0;
  const status: CheckStatus = t.inRotation ? 'passing' : 'critical';
  const output = t.inRotation ? (t.health ? 'healthy' : 'running (no health check)') : `not in rotation (${t.health ?? t.state})`;
  return {
    id: t.name, service: svc.name, tags: [], address, port,
    meta: { 'berth-sandbox': t.name, 'berth-task-slot': String(t.slot), 'berth-service-id': svc.id, 'berth-node': t.node },
    weights: { passing: 1, warning: 1 }, enableTagOverride: false, source: 'replica',
    checks: [{
      checkId: `service:${t.name}`, name: `Service '${svc.name}' check`, status, output, notes: '',
      serviceId: t.name, serviceName: svc.name, type: 'berth', interval: 0, timeout: 0, target: '',
    }],
  };
}

// Registered services change only by replacing their record or a check's result object, so an
// instance built from the same objects is the same: kept, with its fingerprints, between views
// (a change to one of 1,000 registered services then costs one instance, not 1,000).
const externalMemo = new WeakMap<ExternalServiceRecord, { results: Array<CheckResult | undefined>; inst: Instance }>();

function externalInstance(state: BerthState, rec: ExternalServiceRecord): Instance {
  const all = state.catalog?.checks ?? {};
  const results = rec.checks.map((c) => all[c.id]);
  const memo = externalMemo.get(rec);
  if (memo && memo.results.length === results.length && memo.results.every((r, i) => r === results[i])) return memo.inst;
  const inst: Instance = Object.freeze({
    id: rec.id, service: rec.name, tags: [...rec.tags], address: rec.address, port: rec.port, meta: { ...rec.meta },
    weights: { ...rec.weights }, enableTagOverride: rec.enableTagOverride, source: 'external' as const,
    checks: rec.checks.map((c, i) => {
      const r = results[i];
      return {
        checkId: c.id, name: c.name, status: r?.status ?? c.initialStatus, output: r?.output ?? '', notes: c.notes,
        serviceId: rec.id, serviceName: rec.name, type: c.kind, interval: c.intervalMs, timeout: c.timeoutMs, target: c.target,
      };
    }),
  });
  externalMemo.set(rec, { results, inst });
  return inst;
}

export function catalogView(state: BerthState, node: NodeInfo): CatalogView {
  const byName = new Map<string, Instance[]>();
  const add = (i: Instance) => {
    const list = byName.get(i.service);
    if (list) list.push(i);
    else byName.set(i.service, [i]);
  };
  for (const sb of Object.values(state.sandboxes)) {
    if (sb.state.status !== 'running') continue;
    const name = sb.config.labels?.[SERVICE_NAME_LABEL];
    if (name) add(replicaInstance(state, sb, name));
  }
  for (const t of state.remoteTasks ?? []) {
    const svc = state.services?.[t.serviceId];
    if (svc && t.state === 'running') add(remoteReplicaInstance(svc, t));
  }
  for (const rec of Object.values(state.catalog?.services ?? {})) add(externalInstance(state, rec));
  const services = new Map<string, readonly Instance[]>();
  for (const name of [...byName.keys()].sort()) {
    services.set(name, Object.freeze(byName.get(name)!.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))));
  }
  return Object.freeze({ node: Object.freeze({ ...node }), services });
}

/** The tags of each service (the union over its instances), as /v1/catalog/services lists them. */
export function serviceTags(view: CatalogView): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, list] of view.services) out[name] = [...new Set(list.flatMap((i) => i.tags))].sort();
  return out;
}

/** Per service name, the instances of the last view and their texts (see fingerprints). */
export type FingerprintMemo = Map<string, { insts: readonly Instance[]; entries: Array<[string, string]>; tags: string }>;

/**
 * What each blocking-query key covers, as text: the index of a key moves only when its text does.
 *   services          the names and tags (/v1/catalog/services)
 *   catalog:NAME      NAME's instances without their health (/v1/catalog/service/NAME)
 *   health:NAME       NAME's instances with their checks (/v1/health/service/NAME)
 *   inst:NAME/ID and check:ID give entries their own Create/ModifyIndex.
 */
export function fingerprints(view: CatalogView): Map<string, string> {
  return fingerprintDelta(view, new Map()).fps;
}

/**
 * The fingerprints that may have changed since the view the memo last saw, and the keys that are
 * gone: a service whose instances are the same objects as then is skipped, so a change costs
 * its own service rather than the whole catalog. The memo is updated.
 */
export function fingerprintDelta(view: CatalogView, memo: FingerprintMemo): { fps: Map<string, string>; removed: string[] } {
  const fps = new Map<string, string>();
  const removed: string[] = [];
  fps.set('node', JSON.stringify(view.node));
  let changed = memo.size === 0;
  for (const [name, list] of view.services) {
    const m = memo.get(name);
    if (m && m.insts.length === list.length && m.insts.every((x, i) => x === list[i])) continue;
    changed = true;
    const entries: Array<[string, string]> = [];
    const bare: string[] = [];
    const full: string[] = [];
    for (const inst of list) {
      const f = instanceFingerprint(inst);
      bare.push(f.bare);
      full.push(f.bare, ...f.checks);
      entries.push([`inst:${name}/${inst.id}`, f.bare]);
      inst.checks.forEach((c, i) => entries.push([`check:${c.checkId}`, f.checks[i]!]));
    }
    entries.push([`catalog:${name}`, bare.join('\n')], [`health:${name}`, full.join('\n')]);
    for (const [k, v] of entries) fps.set(k, v);
    if (m) for (const [k] of m.entries) if (!fps.has(k)) removed.push(k);
    memo.set(name, { insts: list, entries, tags: JSON.stringify([...new Set(list.flatMap((i) => i.tags))].sort()) });
  }
  for (const [name, m] of [...memo]) {
    if (view.services.has(name)) continue;
    changed = true;
    for (const [k] of m.entries) removed.push(k);
    memo.delete(name);
  }
  // The names and tags (/v1/catalog/services): from each service's memoized tags, and only when a service changed.
  if (changed) fps.set('services', [...view.services.keys()].map((n) => `${n}\u0000${memo.get(n)!.tags}`).join('\n'));
  return { fps, removed };
}

const fpMemo = new WeakMap<Instance, { bare: string; checks: string[] }>();

/** An instance's text without its checks, and each check's (memoized: instances are frozen). */
function instanceFingerprint(inst: Instance): { bare: string; checks: string[] } {
  let f = fpMemo.get(inst);
  if (!f) {
    const { checks, ...rest } = inst;
    f = { bare: JSON.stringify(rest), checks: checks.map((c) => JSON.stringify(c)) };
    if (Object.isFrozen(inst)) fpMemo.set(inst, f);
  }
  return f;
}
