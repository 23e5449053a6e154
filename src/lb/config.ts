// haproxy.cfg for a berth load balancer. Pure: the same input gives the same text (golden tested).
//
// Shape: one frontend on the sandbox's port; a host ACL per route on the Host header without its
// port (req.hdr(host),host_only: app.example matches "App.Example:8080" too); unknown hosts go to
// the default back-end or to a 404 page; one back-end per (service, port), roundrobin (a dynamic
// algorithm, so the runtime API can add servers), every server with an HAProxy check. The client
// address goes to back-ends in X-Forwarded-For. A request whose server fails before answering
// (a replica just killed) is retried on another server, so it does not reach the client as an
// error. The server-state file carries servers' states across reloads.
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
  /** Where the stats socket and the server-state file live. */
  runDir: string;
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

export function renderConfig(input: RenderInput): string {
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
  input.routes.forEach((r, i) => line(`    acl host_${i} req.hdr(host),host_only -m str ${r.host}`));
  input.routes.forEach((r, i) => line(`    use_backend ${r.backend} if host_${i}`));
  line(`    default_backend ${input.defaultBackend ?? NO_ROUTE_BACKEND}`);
  for (const be of input.backends) {
    line();
    line(`backend ${be.id}`);
    line(`    # service ${be.service}, port ${be.port}`);
    line('    balance roundrobin');
    if (input.check.kind === 'http') {
      line(`    option httpchk GET ${input.check.path}`);
    }
    for (const s of be.servers) line(`    server ${s.name} ${s.ip}:${s.port} ${SERVER_KEYWORDS.join(' ')}`);
  }
  if (!input.defaultBackend) {
    line();
    line(`backend ${NO_ROUTE_BACKEND}`);
    line('    http-request return status 404 content-type text/plain string "no route for this host\\n"');
  }
  line();
  return out.join('\n');
}
