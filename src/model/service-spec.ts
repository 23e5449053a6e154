// A service's spec from Docker's ServiceSpec shape (POST /services/create, /services/ID/update),
// checked field by field; errors name the flag to fix. Pure apart from the network lookup the
// caller passes in.
import { BadRequest } from './errors.js';
import { healthcheckFromApi } from './healthcheck.js';
import { validateAlias } from './names.js';
import type { EndpointMode, NetworkId, ServicePort, ServiceSpec } from './types.js';

const SERVICE_NAME_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

export function validateServiceName(name: string): string {
  // Docker: a DNS label (replicas are NAME.SLOT, so no dots in the name itself).
  if (!SERVICE_NAME_RE.test(name)) throw new BadRequest(`invalid service name "${name}": use letters, digits and '-' (at most 63), starting and ending with a letter or digit`);
  return name;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, what: string): Obj {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new BadRequest(`invalid ${what}: expected an object`);
  return v;
}

function strings(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new BadRequest(`invalid ${what}: expected a list of strings`);
  return v as string[];
}

function labels(v: unknown): Record<string, string> {
  const o = obj(v, 'Labels');
  for (const [k, x] of Object.entries(o)) if (!k || typeof x !== 'string') throw new BadRequest(`invalid label "${k}": keys and values are strings (--label KEY=VALUE)`);
  return o as Record<string, string>;
}

export function replicasOf(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 1000) throw new BadRequest(`invalid replicas "${String(v)}": give a whole number from 0 to 1000`);
  return v;
}

function portsOf(v: unknown): ServicePort[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new BadRequest('invalid EndpointSpec.Ports: expected a list');
  const out: ServicePort[] = [];
  for (const raw of v) {
    const p = obj(raw, 'EndpointSpec.Ports entry');
    const proto = p['Protocol'] ?? 'tcp';
    if (proto !== 'tcp' && proto !== 'udp') throw new BadRequest(`invalid protocol "${String(proto)}" in -p: use tcp or udp`);
    const target = p['TargetPort'];
    const published = p['PublishedPort'] ?? 0;
    const okPort = (n: unknown, min: number) => typeof n === 'number' && Number.isInteger(n) && n >= min && n <= 65535;
    if (!okPort(target, 1)) throw new BadRequest(`invalid target port "${String(target)}" in -p: give 1-65535`);
    if (!okPort(published, 0)) throw new BadRequest(`invalid published port "${String(published)}" in -p: give 1-65535`);
    if (published && out.some((o) => o.published === published && o.proto === proto)) throw new BadRequest(`port ${String(published)}/${proto} is published twice`);
    const mode = p['PublishMode'] ?? 'ingress';
    if (mode !== 'ingress' && mode !== 'local') throw new BadRequest(`invalid publish mode "${String(mode)}": use ingress (every host, every replica) or local (a host prefers its own replicas)`);
    out.push({ published: published as number, target: target as number, proto, ...(mode === 'local' ? { mode: 'local' as const } : {}) });
  }
  return out;
}

const CONSTRAINT_RE = /^node\.(?:name|hostname)\s*(==|!=)\s*([a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,62}))$/;

/** `--constraint node.name==N` (or `!=`; `node.hostname` is the same): [op, node]. */
export function parseConstraint(text: string): { op: '==' | '!='; node: string } {
  const m = CONSTRAINT_RE.exec(text.trim());
  if (!m) throw new BadRequest(`invalid constraint "${text}": berth places by node.name==NAME or node.name!=NAME`);
  return { op: m[1] as '==' | '!=', node: m[2]! };
}

/** Docker's long -p syntax: published=P,target=T[,protocol=udp][,mode=ingress|local]. */
function parseLongPortFlag(text: string): { Protocol: string; TargetPort: number; PublishedPort: number; PublishMode?: string } {
  const kv = new Map<string, string>();
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw new BadRequest(`invalid -p "${text}": give published=P,target=T[,protocol=udp][,mode=ingress|local]`);
    kv.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  for (const k of kv.keys()) if (!['published', 'target', 'protocol', 'mode'].includes(k)) throw new BadRequest(`invalid -p "${text}": unknown field ${k}`);
  const num = (k: string) => {
    const v = kv.get(k);
    if (v === undefined) return 0;
    if (!/^\d{1,5}$/.test(v)) throw new BadRequest(`invalid -p "${text}": ${k} must be a port number`);
    return Number(v);
  };
  return { Protocol: kv.get('protocol') ?? 'tcp', TargetPort: num('target'), PublishedPort: num('published'), ...(kv.has('mode') ? { PublishMode: kv.get('mode')! } : {}) };
}

/** "PUBLISHED:TARGET[/udp]", "TARGET[/udp]" or "published=P,target=T[,mode=local]" of `berth service create -p`, in Docker's API shape. */
export function parseServicePortFlag(text: string): { Protocol: string; TargetPort: number; PublishedPort: number; PublishMode?: string } {
  if (text.includes('=')) return parseLongPortFlag(text);
  const m = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp))?$/.exec(text.trim());
  if (!m) throw new BadRequest(`invalid -p "${text}": give PUBLISHED:TARGET[/udp] or TARGET[/udp]`);
  return { Protocol: m[3] ?? 'tcp', TargetPort: Number(m[2]), PublishedPort: m[1] ? Number(m[1]) : 0 };
}

const NS_PER_MS = 1_000_000;

/**
 * Docker's ServiceSpec (the subset berth runs) -> ServiceSpec. `network` resolves a network
 * reference (name, id or prefix) to its id, throwing a 404 for an unknown one.
 */
export function serviceSpecFromApi(raw: unknown, network: (ref: string) => NetworkId): { name: string; spec: ServiceSpec } {
  const body = obj(raw, 'service spec');
  const name = typeof body['Name'] === 'string' ? body['Name'] : '';
  if (!name) throw new BadRequest('give the service a name (--name)');
  validateServiceName(name);
  const task = obj(body['TaskTemplate'], 'TaskTemplate');
  const cs = obj(task['ContainerSpec'], 'TaskTemplate.ContainerSpec');
  const cmd = [...strings(cs['Command'], 'ContainerSpec.Command'), ...strings(cs['Args'], 'ContainerSpec.Args')];
  if (cmd.length === 0) throw new BadRequest('No command specified: give the command to run after --');
  const env = strings(cs['Env'], 'ContainerSpec.Env');
  for (const e of env) if (!/^[^=\s]+(=|$)/.test(e)) throw new BadRequest(`invalid environment variable "${e}": expected KEY=VALUE`);
  const rootfs = typeof cs['Rootfs'] === 'string' ? cs['Rootfs'] : '';
  if (rootfs && !rootfs.startsWith('/')) throw new BadRequest(`--rootfs must be an absolute path, got "${rootfs}"`);
  const healthcheck = healthcheckFromApi(cs['Healthcheck']);
  const netsRaw = task['Networks'] ?? [];
  if (!Array.isArray(netsRaw)) throw new BadRequest('invalid TaskTemplate.Networks: expected a list');
  const networks: NetworkId[] = [];
  const aliases = new Set<string>();
  for (const n of netsRaw) {
    const o = obj(n, 'TaskTemplate.Networks entry');
    if (typeof o['Target'] !== 'string' || !o['Target']) throw new BadRequest('each network needs a Target (--network NAME)');
    const id = network(o['Target']);
    if (!networks.includes(id)) networks.push(id);
    for (const a of strings(o['Aliases'], 'network Aliases')) aliases.add(validateAlias(a));
  }
  const mode = obj(body['Mode'], 'Mode');
  const replicated = obj(mode['Replicated'], 'Mode.Replicated');
  const replicas = replicated['Replicas'] === undefined ? 1 : replicasOf(replicated['Replicas']);
  const ep = obj(body['EndpointSpec'], 'EndpointSpec');
  const endpointMode = (ep['Mode'] ?? 'vip') as EndpointMode;
  if (endpointMode !== 'vip' && endpointMode !== 'dnsrr') throw new BadRequest(`invalid --endpoint-mode "${String(endpointMode)}": use vip or dnsrr`);
  const ports = portsOf(ep['Ports']);
  if (endpointMode === 'dnsrr' && ports.some((p) => p.published)) throw new BadRequest('port published with ingress mode can\'t be used with dnsrr mode');
  const placement = obj(task['Placement'], 'TaskTemplate.Placement');
  const constraints = strings(placement['Constraints'], 'Placement.Constraints').map((c) => {
    const { op, node } = parseConstraint(c);
    return `node.name${op}${node}`;
  });
  const uc = obj(body['UpdateConfig'], 'UpdateConfig');
  const parallelism = uc['Parallelism'] === undefined ? 1 : uc['Parallelism'];
  if (typeof parallelism !== 'number' || !Number.isInteger(parallelism) || parallelism < 0) throw new BadRequest('invalid --update-parallelism: give a whole number (0: all at once)');
  const delayNs = uc['Delay'] ?? 0;
  if (typeof delayNs !== 'number' || !Number.isInteger(delayNs) || delayNs < 0) throw new BadRequest('invalid --update-delay: give a duration such as 5s');
  return {
    name,
    spec: {
      replicas,
      networks,
      endpointMode,
      ports,
      ...(healthcheck ? { healthcheck } : {}),
      env,
      rootfs,
      labels: labels(body['Labels']),
      cmd,
      aliases: [...aliases],
      update: { parallelism, delayMs: Math.round(delayNs / NS_PER_MS) },
      ...(constraints.length ? { constraints } : {}),
    },
  };
}
