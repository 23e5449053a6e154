// haproxy.cfg for a berth load balancer. Pure: the same input gives the same text (golden tested).
//
// Shape: one frontend on the sandbox's port that picks its back-end from a map file, hosts.map
// (Host header without its port, lower case -> back-end slot: app.example matches
// "App.Example:8080" too); unknown hosts go to the default back-end or to a 404 page. Back-ends
// are a fixed pool of slots (slots.ts), each (service, port) in use holds one; all are roundrobin
// (a dynamic algorithm, so the runtime API can add servers), every server with an HAProxy check.
// A route added or removed is a map entry and servers in a free slot, changed through the runtime
// API with no reload; the files follow so that a reload or restart starts from them. The client
// address goes to back-ends in X-Forwarded-For. A request whose server fails before answering
// (a replica just killed) is retried on another server, so it does not reach the client as an
// error. The server-state file carries servers' states across reloads.
import { Internal } from '../model/errors.js';
import { assignSlots, EMPTY_SLOTS, slotName, type SlotTable } from './slots.js';
import type { LbCheck } from './spec.js';

export interface RenderServer {
  /** HAProxy server name (see serverName). */
  name: string;
  ip: string;
  port: number;
}

export interface RenderBackend {
  /** HAProxy back-end name (see backendName). */
  id: string;
  service: string;
  port: number;
  servers: RenderServer[];
}

export interface RenderInput {
  lb: string;
  /** Port HAProxy binds inside its sandbox. */
  port: number;
  routes: Array<{ host: string; backend: string }>;
  defaultBackend?: string;
  backends: RenderBackend[];
  check: LbCheck;
  stats?: { uri: string; user?: string; pass?: string };
  /** Where the stats socket, the server-state file and hosts.map live. */
  runDir: string;
  /** Size of the back-end slot pool (default DEFAULT_SLOTS); it grows by this much when full. */
  slots?: number;
}

/** Keywords of every server, the config's and those added through the runtime API alike. */
export const SERVER_KEYWORDS = ['check', 'inter', '1s', 'fall', '2', 'rise', '2'] as const;

/** HAProxy allows letters, digits, '-', '_', '.' and ':' in names. */
const clean = (s: string): string => s.replace(/[^A-Za-z0-9_.:-]/g, '_');

export function backendName(service: string, port: number): string {
  return `be_${clean(service)}_${port}`;
}

export function serverName(sandbox: string): string {
  return clean(sandbox);
}

export const NO_ROUTE_BACKEND = 'be_no_route';
export const FRONTEND = 'fe_http';

export function statsSocket(runDir: string): string {
  return `${runDir}/lb.sock`;
}

export function masterSocket(runDir: string): string {
  return `${runDir}/master.sock`;
}

export function serverStateFile(runDir: string): string {
  return `${runDir}/server-state`;
}

export function hostsMapFile(runDir: string): string {
  return `${runDir}/hosts.map`;
}

export function slotsFile(runDir: string): string {
  return `${runDir}/slots.json`;
}

/** The slot table for an input, keeping the slots `prev` gave (default back-end first). */
export function slotsFor(input: RenderInput, prev: SlotTable = EMPTY_SLOTS): SlotTable {
  const ids = [...(input.defaultBackend ? [input.defaultBackend] : []), ...input.backends.map((b) => b.id)];
  const known = new Set(input.backends.map((b) => b.id));
  for (const id of [...ids, ...input.routes.map((r) => r.backend)]) {
    if (!known.has(id)) throw new Internal(`back-end ${id} is routed to but not declared`);
  }
  return assignSlots(prev, ids, input.slots);
}

/** host -> slot back-end name, as hosts.map holds it. */
export function hostsMap(input: RenderInput, table: SlotTable): Map<string, string> {
  return new Map(input.routes.map((r) => [r.host, slotName(table.of.get(r.backend)!)]));
}

/** hosts.map's text: one "HOST BACKEND" line per route. */
export function renderHostsMap(input: RenderInput, table: SlotTable): string {
  return [...hostsMap(input, table)].map(([h, b]) => `${h} ${b}\n`).join('');
}

export function renderConfig(input: RenderInput, table: SlotTable = slotsFor(input)): string {
  const out: string[] = [];
  const line = (s = '') => out.push(s);
  line(`# haproxy.cfg of berth load balancer ${input.lb}. berthd writes this file: change it with berth lb.`);
  line('global');
  line(`    stats socket ${statsSocket(input.runDir)} mode 600 level admin`);
  line(`    server-state-file ${serverStateFile(input.runDir)}`);
  line('    hard-stop-after 30s');
  line('    maxconn 4096');
  line();
  line('defaults');
  line('    mode http');
  line('    option forwardfor');
  line('    option redispatch 1');
  line('    retries 3');
  line('    retry-on conn-failure empty-response response-timeout');
  line('    load-server-state-from-file global');
  line('    timeout connect 2s');
  line('    timeout client 30s');
  line('    timeout server 30s');
  line('    timeout http-request 10s');
  line('    timeout http-keep-alive 10s');
  line();
  line(`frontend ${FRONTEND}`);
  line(`    bind :${input.port}`);
  if (input.stats) {
    line('    stats enable');
    line(`    stats uri ${input.stats.uri}`);
    line('    stats refresh 5s');
    line('    stats show-legends');
    if (input.stats.user) line(`    stats auth ${input.stats.user}:${input.stats.pass ?? ''}`);
  }
  const fallback = input.defaultBackend ? slotName(table.of.get(input.defaultBackend)!) : NO_ROUTE_BACKEND;
  line('    # hosts.map: Host without its port, lower case -> back-end; changed at run time (add/del map).');
  line(`    use_backend %[req.hdr(host),host_only,lower,map(${hostsMapFile(input.runDir)},${fallback})]`);
  line(`    default_backend ${fallback}`);
  const byId = new Map(input.backends.map((b) => [b.id, b]));
  const bySlot = new Map([...table.of].map(([id, n]) => [n, byId.get(id)!]));
  for (let n = 0; n < table.pool; n++) {
    const be = bySlot.get(n);
    line();
    line(`backend ${slotName(n)}`);
    line(be ? `    # ${be.id}: service ${be.service}, port ${be.port}` : '    # free');
    line('    balance roundrobin');
    if (input.check.kind === 'http') {
      line(`    option httpchk GET ${input.check.path}`);
    }
    for (const s of be?.servers ?? []) line(`    server ${s.name} ${s.ip}:${s.port} ${SERVER_KEYWORDS.join(' ')}`);
  }
  if (!input.defaultBackend) {
    line();
    line(`backend ${NO_ROUTE_BACKEND}`);
    line('    http-request return status 404 content-type text/plain string "no route for this host\\n"');
  }
  line();
  return out.join('\n');
}
