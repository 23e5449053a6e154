// Consul's HTTP API (the subset catalog clients use) over berth's catalog. Reads carry
// X-Consul-Index (never below 1, also on errors) and block with ?index=&wait= until what they
// cover changes; errors are plain text as Consul's. Every client value goes through schemas.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { ExternalServiceRecord } from '../model/catalog.js';
import { BerthError, statusOf } from '../model/errors.js';
import type { Catalog } from './catalog.js';
import { agentMembers, agentSelf, agentServices, catalogServiceEntries, healthServiceEntries, statusLeader } from './render.js';
import { InvalidRegistration, issueText, parseReadQuery, pathSegmentSchema, registerSchema, registrationRecord, type ReadQuery } from './schemas.js';
import { serviceTags } from './view.js';

export interface CatalogOps {
  register(rec: ExternalServiceRecord): Promise<void>;
  /** Throws NotFound for an unknown id. */
  deregister(id: string): Promise<void>;
}

type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;

const MAX_BODY = 1 << 20;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Answer as berth's API does ({"message": ...}) rather than Consul's plain text. */
    readonly json = false,
  ) {
    super(message);
  }
}

interface Read {
  /** The blocking-query key the answer covers. */
  key: string;
  answer: (q: ReadQuery) => unknown;
}

function decodeSegment(s: string): string {
  let text: string;
  try {
    text = decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `invalid path segment "${s}": bad percent-encoding`);
  }
  const r = pathSegmentSchema.safeParse(text);
  if (!r.success) throw new HttpError(400, `invalid path segment ${JSON.stringify(text)}: ${issueText(r.error)}`);
  return r.data;
}

/** The read a GET path stands for, or undefined. */
function readRoute(catalog: Catalog, path: string): Read | undefined {
  const v = () => catalog.view;
  const t = () => catalog.table;
  switch (path) {
    case '/v1/catalog/services':
      return { key: 'services', answer: () => serviceTags(v()) };
    case '/v1/catalog/nodes':
      return { key: 'node', answer: () => [{ ID: v().node.id, Node: v().node.name, Address: v().node.address, Datacenter: v().node.datacenter, TaggedAddresses: {}, Meta: {} }] };
    case '/v1/agent/services':
      return { key: 'instances', answer: () => agentServices(v()) };
    case '/v1/agent/members':
      return { key: 'node', answer: () => agentMembers(v()) };
    case '/v1/agent/self':
      return { key: 'node', answer: () => agentSelf(v()) };
    case '/v1/status/leader':
      return { key: 'node', answer: () => statusLeader(v()) };
    case '/v1/status/peers':
      return { key: 'node', answer: () => [statusLeader(v())] };
  }
  let m = /^\/v1\/catalog\/service\/([^/]+)$/.exec(path);
  if (m) {
    const name = decodeSegment(m[1]!);
    return { key: `catalog:${name}`, answer: (q) => catalogServiceEntries(v(), t(), name, q.tags) };
  }
  m = /^\/v1\/health\/service\/([^/]+)$/.exec(path);
  if (m) {
    const name = decodeSegment(m[1]!);
    return { key: `health:${name}`, answer: (q) => healthServiceEntries(v(), t(), name, q.tags, q.passing) };
  }
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `Request body too large (more than ${MAX_BODY} bytes)`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw new HttpError(400, 'Request decode failed: empty body');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Request decode failed: the body is not valid JSON');
  }
}

/** A handler for /v1/... requests, shared by berthd's unix socket and the TCP listener. */
export function catalogHandler(catalog: Catalog, ops: CatalogOps, log: LogFn): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const headers = (index: number) => ({
    'X-Consul-Index': String(Math.max(1, index)),
    'X-Consul-KnownLeader': 'true',
    'X-Consul-LastContact': '0',
  });

  return async (req, res) => {
    const method = req.method ?? 'GET';
    let path = '/';
    try {
      const url = new URL(req.url ?? '/', 'http://catalog');
      path = url.pathname;
      const read = readRoute(catalog, path);
      if (read) {
        if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `method ${method} not allowed`);
        let q: ReadQuery;
        try {
          q = parseReadQuery(url.searchParams);
        } catch (err) {
          if (err instanceof z.ZodError) throw new HttpError(400, issueText(err));
          throw err;
        }
        if (q.dc !== undefined && q.dc !== catalog.view.node.datacenter) throw new HttpError(500, `No path to datacenter`);
        if (q.index > 0) {
          // Consul adds up to wait/16 of jitter so that many watchers do not return together.
          const ms = q.waitMs + Math.floor(Math.random() * (q.waitMs / 16));
          await catalog.wait(read.key, q.index, ms, (stop) => res.once('close', stop));
          if (res.destroyed) return;
        }
        const body = JSON.stringify(read.answer(q));
        res.writeHead(200, { ...headers(catalog.indexOf(read.key)), 'Content-Type': 'application/json' });
        res.end(method === 'HEAD' ? undefined : body);
        return;
      }
      if (path === '/v1/agent/service/register') {
        if (method !== 'PUT') throw new HttpError(405, `method ${method} not allowed`);
        const body = await readBody(req);
        const parsed = registerSchema.safeParse(body);
        if (!parsed.success) throw new HttpError(400, `Request decode failed: ${issueText(parsed.error)}`);
        let rec: ExternalServiceRecord;
        try {
          rec = registrationRecord(parsed.data, new Date().toISOString());
        } catch (err) {
          if (err instanceof InvalidRegistration) throw new HttpError(400, err.message);
          throw err;
        }
        await ops.register(rec);
        res.writeHead(200, headers(catalog.table.index)).end();
        return;
      }
      const dereg = /^\/v1\/agent\/service\/deregister\/([^/]+)$/.exec(path);
      if (dereg) {
        // Consul takes PUT; some clients send GET: both are accepted.
        if (method !== 'PUT' && method !== 'GET') throw new HttpError(405, `method ${method} not allowed`);
        await ops.deregister(decodeSegment(dereg[1]!));
        res.writeHead(200, headers(catalog.table.index)).end();
        return;
      }
      // Not one of Consul's endpoints berth serves: answered in berth's own error shape.
      throw new HttpError(404, `Unknown API endpoint ${path}: berth's catalog serves /v1/catalog/services, /v1/catalog/service/NAME, /v1/health/service/NAME, /v1/agent/service/register, /v1/agent/service/deregister/ID, /v1/agent/self, /v1/agent/members, /v1/status/leader`, true);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : err instanceof BerthError ? statusOf(err) : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (status >= 500 && !(err instanceof HttpError)) log('error', `catalog ${method} ${path}: ${err instanceof Error ? (err.stack ?? message) : message}`);
      else log('debug', `catalog ${method} ${path}: ${status} ${message}`);
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError && err.json) res.writeHead(status, { ...headers(catalog.table.index), 'Content-Type': 'application/json' }).end(JSON.stringify({ message }));
      else res.writeHead(status, { ...headers(catalog.table.index), 'Content-Type': 'text/plain; charset=utf-8' }).end(message + '\n');
    }
  };
}
