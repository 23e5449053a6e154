// A load balancer's spec (berth lb create): what the user asked for, parsed. Pure.
//
//   --route HOST=SERVICE[:PORT]   requests whose Host (without its port) is HOST go to SERVICE
//   --default SERVICE[:PORT]      every other host; without it they get a 404 page
//   --check http:PATH | tcp       HAProxy's health check of every server
//   --stats /lbstats              HAProxy's stats page at that path, --stats-auth USER:PASS
// PORT is the service's target port; without it, the service's first TCP port.
import { BadRequest } from '../model/errors.js';
import type { LbCheck, LbRoute, LbTarget } from '../model/types.js';

export type { LbCheck, LbRoute, LbSpec, LbTarget } from '../model/types.js';

const SERVICE_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
// Path characters HAProxy's config reads literally (no spaces, quotes, backslashes or '#').
const PATH_RE = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

function portOf(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new BadRequest(`invalid port "${text}" in ${what}: give 1-65535`);
  return Number(text);
}

/** "SERVICE[:PORT]". */
export function parseTarget(text: string, what: string): LbTarget {
  const [service = '', port, ...rest] = text.split(':');
  if (rest.length || !SERVICE_RE.test(service)) throw new BadRequest(`invalid ${what} "${text}": give SERVICE[:PORT], a service name of letters, digits and '-'`);
  return { service, port: port === undefined ? 0 : portOf(port, what) };
}

/** A host name as HAProxy's host_only leaves it: lower case, no trailing dot. */
export function normalizeHost(text: string): string {
  const h = text.toLowerCase().replace(/\.$/, '');
  if (h.length > 253 || !h.split('.').every((l) => LABEL_RE.test(l))) {
    throw new BadRequest(`invalid host name "${text}" in --route: give a DNS name such as app.example (no port, no wildcard)`);
  }
  return h;
}

/** "HOST=SERVICE[:PORT]". */
export function parseRoute(text: string): LbRoute {
  const eq = text.indexOf('=');
  if (eq < 1) throw new BadRequest(`invalid --route "${text}": give HOST=SERVICE[:PORT], e.g. app.example=web:80`);
  return { host: normalizeHost(text.slice(0, eq)), ...parseTarget(text.slice(eq + 1), '--route') };
}

/** "http:PATH" or "tcp". */
export function parseCheck(text: string): LbCheck {
  if (text === 'tcp') return { kind: 'tcp' };
  if (text.startsWith('http:') && PATH_RE.test(text.slice(5))) return { kind: 'http', path: text.slice(5) };
  throw new BadRequest(`invalid --check "${text}": give http:PATH (e.g. http:/health) or tcp`);
}

export function parseStatsUri(text: string): string {
  if (!PATH_RE.test(text) || text.includes(';')) throw new BadRequest(`invalid --stats "${text}": give a path such as /lbstats`);
  return text;
}

export function parseStatsAuth(text: string): { user: string; pass: string } {
  const m = /^([A-Za-z0-9._-]{1,64}):([\x21-\x7e]{1,128})$/.exec(text);
  if (!m || /["'\\#]/.test(m[2]!)) throw new BadRequest('invalid --stats-auth: give USER:PASS (letters, digits, ._- in USER; no spaces, quotes, backslashes or # in PASS)');
  return { user: m[1]!, pass: m[2]! };
}

/** "--slots N": size of the back-end slot pool, 1-1000. */
export function parseSlots(text: string): number {
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 1000) throw new BadRequest(`invalid --slots "${text}": give a number of back-end slots from 1 to 1000 (default 32)`);
  return Number(text);
}

/** Routes must name each host once. */
export function checkRoutes(routes: readonly LbRoute[]): void {
  const seen = new Set<string>();
  for (const r of routes) {
    if (seen.has(r.host)) throw new BadRequest(`host ${r.host} is routed twice: give each --route host once`);
    seen.add(r.host);
  }
}
