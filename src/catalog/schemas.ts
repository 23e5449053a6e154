// Every value a catalog client sends, parsed by a schema before anything uses it: the body of
// PUT /v1/agent/service/register (keys in any letter case, snake_case too, as Consul accepts) and
// the query parameters of reads (index, wait, passing, tag, dc). Errors read like Consul's.
import { z } from 'zod';
import { parseGoDuration } from '../model/duration.js';
import { isIpv4 } from '../model/ip-literal.js';
import type { CheckStatus, ExternalCheck, ExternalServiceRecord } from '../model/catalog.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const text = (max: number) => z.string().max(max).refine((s) => !CONTROL.test(s), { message: 'control characters are not allowed' });

/** Consul's service names and IDs: DNS-friendly names are what its DNS interface can answer. */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const META_KEY = /^[A-Za-z0-9_-]{1,128}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** "EnableTagOverride", "enable_tag_override", "enabletagoverride" -> the same key. */
const fold = (k: string) => k.replace(/_/g, '').toLowerCase();

/**
 * An object schema whose keys match in any case and with or without underscores. Unknown keys are
 * ignored (as Consul's decoder does) except that two spellings of one key are refused.
 */
function ci<S extends z.ZodRawShape>(shape: S) {
  const canon = new Map(Object.keys(shape).map((k) => [fold(k), k]));
  return z.preprocess((v, ctx) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) {
      const key = canon.get(fold(k));
      if (!key) continue;
      if (key in out) {
        ctx.issues.push({ code: 'custom', message: `${key} is given twice (as ${k} too)`, input: v });
        return z.NEVER;
      }
      out[key] = val;
    }
    return out;
  }, z.object(shape));
}

const duration = (what: string) =>
  text(64).transform((s, ctx) => {
    const ms = parseGoDuration(s);
    if (ms === undefined || ms < 0) {
      ctx.issues.push({ code: 'custom', message: `invalid ${what} "${s}": give a duration such as 10s, 1m or 500ms`, input: s });
      return z.NEVER;
    }
    return ms;
  });

const status = z.enum(['passing', 'warning', 'critical']);

const checkSchema = ci({
  CheckID: text(256).optional(),
  ID: text(256).optional(),
  Name: text(256).optional(),
  Notes: text(4096).optional(),
  HTTP: text(4096).optional(),
  Method: z.string().regex(/^[A-Z]{1,16}$/, 'an HTTP method in capitals, e.g. GET').optional(),
  TCP: text(300).optional(),
  TTL: text(64).optional(),
  Args: z.unknown().optional(),
  Script: z.unknown().optional(),
  GRPC: z.unknown().optional(),
  DockerContainerID: z.unknown().optional(),
  Interval: duration('Interval').optional(),
  Timeout: duration('Timeout').optional(),
  DeregisterCriticalServiceAfter: duration('DeregisterCriticalServiceAfter').optional(),
  Status: status.optional(),
});
type CheckInput = z.output<typeof checkSchema>;

export const registerSchema = ci({
  ID: text(128).optional(),
  Name: text(128).refine((s) => SERVICE_NAME.test(s), { message: 'a service name is letters, digits, ".", "_" and "-", starting with a letter or digit' }),
  Tags: z.array(text(256)).max(64).nullish(),
  Address: text(253).optional(),
  Port: z.number().int().min(0).max(65535).optional(),
  Meta: z.record(text(128).refine((k) => META_KEY.test(k), { message: 'Meta keys are letters, digits, "_" and "-"' }), text(512)).nullish(),
  Weights: ci({ Passing: z.number().int().min(1).max(65535).optional(), Warning: z.number().int().min(0).max(65535).optional() }).nullish(),
  EnableTagOverride: z.boolean().optional(),
  Kind: z.string().max(0, 'only plain services (Kind "") are supported').optional(),
  Check: checkSchema.nullish(),
  Checks: z.array(checkSchema).max(16).nullish(),
});
export type RegisterInput = z.output<typeof registerSchema>;

/** A problem with a parsed registration that the schema cannot see alone; Consul's wording where it has one. */
export class InvalidRegistration extends Error {}

const MIN_INTERVAL_MS = 1000;
const DEFAULT_TIMEOUT_MS = 10_000;

function checkOf(c: CheckInput, serviceId: string, serviceName: string, id: string): ExternalCheck {
  const kinds = [c.HTTP !== undefined && 'HTTP', c.TCP !== undefined && 'TCP'].filter(Boolean);
  if (c.TTL !== undefined || c.Args !== undefined || c.Script !== undefined || c.GRPC !== undefined || c.DockerContainerID !== undefined) {
    throw new InvalidRegistration('Invalid check: berth performs HTTP and TCP checks only (TTL, script, gRPC and Docker checks are not supported)');
  }
  if (kinds.length !== 1) throw new InvalidRegistration('Invalid check: give exactly one of HTTP or TCP, with an Interval');
  if (c.Interval === undefined) throw new InvalidRegistration(`Invalid check: ${kinds[0]} checks must include an Interval`);
  if (c.Interval < MIN_INTERVAL_MS) throw new InvalidRegistration(`Invalid check: Interval ${c.Interval}ms is shorter than the minimum of 1s`);
  let target: string;
  if (c.HTTP !== undefined) {
    let url: URL;
    try {
      url = new URL(c.HTTP);
    } catch {
      throw new InvalidRegistration(`Invalid check: HTTP "${c.HTTP}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidRegistration(`Invalid check: HTTP "${c.HTTP}" must be an http:// or https:// URL`);
    target = url.href;
  } else {
    const m = /^(.+):(\d{1,5})$/.exec(c.TCP!);
    const host = m?.[1]?.replace(/^\[|\]$/g, '');
    const port = Number(m?.[2]);
    if (!m || !host || !(isIpv4(host) || HOSTNAME.test(host)) || !(port >= 1 && port <= 65535)) {
      throw new InvalidRegistration(`Invalid check: TCP "${c.TCP}" must be HOST:PORT, e.g. 10.0.0.5:5432`);
    }
    target = `${host}:${port}`;
  }
  const timeout = c.Timeout ?? Math.min(DEFAULT_TIMEOUT_MS, c.Interval);
  return {
    id: c.CheckID ?? c.ID ?? id,
    name: c.Name ?? `Service '${serviceName}' check`,
    kind: c.HTTP !== undefined ? 'http' : 'tcp',
    target,
    method: c.Method ?? 'GET',
    intervalMs: c.Interval,
    timeoutMs: Math.max(1, timeout),
    deregisterAfterMs: c.DeregisterCriticalServiceAfter ?? 0,
    initialStatus: (c.Status ?? 'critical') as CheckStatus,
    notes: c.Notes ?? '',
  };
}

/** The record a parsed registration stands for (ID defaults to Name, as in Consul). */
export function registrationRecord(r: RegisterInput, now: string): ExternalServiceRecord {
  const id = r.ID || r.Name;
  if (!SERVICE_NAME.test(id)) throw new InvalidRegistration(`Invalid service ID "${id}": letters, digits, ".", "_" and "-", starting with a letter or digit`);
  if (r.Address && !isIpv4(r.Address) && !HOSTNAME.test(r.Address)) throw new InvalidRegistration(`Invalid Address "${r.Address}": give an IPv4 address or a host name`);
  const defs = [...(r.Check ? [r.Check] : []), ...(r.Checks ?? [])];
  const checks = defs.map((c, i) => checkOf(c, id, r.Name, defs.length === 1 ? `service:${id}` : `service:${id}:${i + 1}`));
  const ids = new Set<string>();
  for (const c of checks) {
    if (ids.has(c.id)) throw new InvalidRegistration(`Invalid check: CheckID "${c.id}" is given twice`);
    ids.add(c.id);
  }
  return {
    id, name: r.Name, tags: [...(r.Tags ?? [])], address: r.Address ?? '', port: r.Port ?? 0, meta: { ...(r.Meta ?? {}) },
    weights: { passing: r.Weights?.Passing ?? 1, warning: r.Weights?.Warning ?? 1 },
    enableTagOverride: r.EnableTagOverride ?? false, checks, registered: now,
  };
}

/** A service name or ID in a path (/v1/health/service/NAME, /deregister/ID), after percent-decoding. */
export const pathSegmentSchema = text(256).min(1, 'must not be empty');

const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;

/** A flag given bare (?passing), as =1/=true, or =0/=false. */
const flag = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined) return false;
    if (v === '' || v === '1' || v === 'true') return true;
    if (v === '0' || v === 'false') return false;
    ctx.issues.push({ code: 'custom', message: `expected true or false, got "${v}"`, input: v });
    return z.NEVER;
  });

export const readQuerySchema = z.object({
  index: z
    .string()
    .regex(/^\d{1,16}$/, 'Invalid index: expected a whole number')
    .transform(Number)
    .optional(),
  wait: z
    .string()
    .transform((s, ctx) => {
      const ms = parseGoDuration(s);
      if (ms === undefined || ms < 0) {
        ctx.issues.push({ code: 'custom', message: `Invalid wait time "${s}": give it as 30s, 5m or 60000ms`, input: s });
        return z.NEVER;
      }
      return ms;
    })
    .optional(),
  passing: flag,
  tag: z.array(text(256)).max(16),
  dc: text(128).optional(),
  filter: z.string().max(0, 'filter expressions are not supported by berth').optional(),
});
export type ReadQuery = { index: number; waitMs: number; passing: boolean; tags: string[]; dc: string | undefined };

/** Query parameters of a read: blocking (index, wait with Consul's default 5m and cap 10m) and filters. */
export function parseReadQuery(q: URLSearchParams): ReadQuery {
  const one = (k: string) => (q.has(k) ? q.get(k)! : undefined);
  const r = readQuerySchema.parse({ index: one('index'), wait: one('wait'), passing: one('passing'), tag: q.getAll('tag'), dc: one('dc'), filter: one('filter') });
  return { index: r.index ?? 0, waitMs: Math.min(r.wait ?? DEFAULT_WAIT_MS, MAX_WAIT_MS) || DEFAULT_WAIT_MS, passing: r.passing, tags: r.tag, dc: r.dc };
}

/** The first issue of a zod error as one line: "Port: expected number, received string". */
export function issueText(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid request';
  const path = i.path.map(String).join('.');
  return path ? `${path}: ${i.message}` : i.message;
}
