// Is a parsed store file plausibly the record it claims to be? A torn or hand-edited file can
// still be valid JSON ("{}", "null", a truncated array): these checks turn that into "damaged"
// before the daemon acts on it. They check the fields berthd relies on to adopt or release a
// sandbox, not every field. Pure: no I/O.
import type { NetworkRecord, SandboxRecord, ServiceRecord } from '../model/types.js';
import type { StoreMeta } from './store.js';
import type { CatalogRecord } from '../model/catalog.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function need(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

export function checkNetwork(v: unknown, id: string): NetworkRecord {
  need(isObj(v), 'not a JSON object');
  const r = v as Obj;
  need(r['id'] === id, `id is not ${id}`);
  need(typeof r['name'] === 'string' && r['name'] !== '', 'no name');
  need(['bridge', 'host', 'null', 'p2p'].includes(r['driver'] as string), 'unknown driver');
  need(isObj(r['options']) && isObj(r['labels']), 'no options or labels');
  need(typeof r['builtin'] === 'boolean', 'no builtin flag');
  return v as NetworkRecord;
}

export function checkSandbox(v: unknown, id: string): SandboxRecord {
  need(isObj(v), 'not a JSON object');
  const r = v as Obj;
  need(r['id'] === id, `id is not ${id}`);
  need(typeof r['name'] === 'string' && r['name'] !== '', 'no name');
  const cfg = r['config'];
  need(isObj(cfg) && typeof cfg['networkMode'] === 'string' && Array.isArray(cfg['networks']) && Array.isArray(cfg['cmd']), 'no config');
  const st = r['state'];
  need(isObj(st) && ['created', 'running', 'exited'].includes(st['status'] as string) && typeof st['pid'] === 'number', 'no state');
  need(isObj(r['endpoints']) && Array.isArray(r['ports']) && typeof r['generation'] === 'number', 'no endpoints, ports or generation');
  return v as SandboxRecord;
}

export function checkService(v: unknown, id: string): ServiceRecord {
  need(isObj(v), 'not a JSON object');
  const r = v as Obj;
  need(r['id'] === id, `id is not ${id}`);
  need(typeof r['name'] === 'string' && r['name'] !== '', 'no name');
  const spec = r['spec'];
  need(isObj(spec) && typeof spec['replicas'] === 'number' && Array.isArray(spec['networks']) && Array.isArray(spec['cmd']), 'no spec');
  need(isObj(r['vips']) && typeof r['version'] === 'number', 'no vips or version');
  return v as ServiceRecord;
}

export function checkCatalog(v: unknown, id: string): CatalogRecord {
  need(isObj(v), 'not a JSON object');
  const r = v as Obj;
  need(isObj(r['service']), 'no service');
  const svc = r['service'] as Obj;
  need(svc['id'] === id, `service id is not ${id}`);
  need(typeof svc['name'] === 'string' && svc['name'] !== '' && typeof svc['port'] === 'number', 'no name or port');
  need(Array.isArray(svc['checks']) && Array.isArray(svc['tags']) && isObj(svc['meta']), 'no checks, tags or meta');
  need(isObj(r['checks']), 'no check results');
  return v as CatalogRecord;
}

export function checkMeta(v: unknown): StoreMeta {
  need(isObj(v), 'not a JSON object');
  const r = v as Obj;
  need(r['format'] === 2, `unknown store format ${JSON.stringify(r['format'])}`);
  const hs = r['hostServices'];
  need(Array.isArray(hs) && hs.every((s) => typeof s === 'string'), 'no hostServices list');
  const lbs = r['lbs'];
  if (lbs === undefined) return { hostServices: hs as string[] };
  need(isObj(lbs) && Object.entries(lbs).every(([k, l]) => isObj(l) && (l as Obj)['name'] === k && isObj((l as Obj)['spec']) && typeof (l as Obj)['sandboxId'] === 'string'), 'lbs: not load balancer records');
  return { hostServices: hs as string[], lbs: lbs as StoreMeta['lbs'] & object };
}
