// The router of the HTTP API on the unix socket: JSON in, JSON out, Docker's {"message": "..."}
// on errors.
//
// THE ROUTE CONVENTION (every route, in every file that adds routes):
//
//   r.route({ method: 'POST', path: '/networks/{id}/connect', params, query, body }, async (req) => ...)
//
// - `params`, `query` and `body` are zod schemas (src/daemon/schema/). Path parameters are named
//   in braces and the `params` schema is a z.object with exactly those keys; `query` is a
//   z.object over the query string (first value of each name, as Go's Form.Get); `body` parses
//   the JSON body (an empty body is `{}`). A part without a schema is `{}` for the handler.
// - They are parsed BEFORE the handler runs. The handler gets only the parsed, normalised values
//   (req.params / req.query / req.body, typed by z.output of the schemas); a failure answers 400
//   naming the field: `invalid Name: expected a string`, `invalid query parameter t: ...`.
// - Bodies over 1 MiB answer 413, bodies that are not JSON 400; a thrown BerthError answers its
//   status; anything else 500 with the stack in berthd's log. Nothing a request does ends berthd.
// - The handler returns: undefined (204), a string (200 text/plain), an object or array (200
//   JSON; `created(obj)` for 201), or HANDLED when it wrote the response itself (streams).
// - `rawBody: true` routes (image load/import: tar streams) read req.raw themselves; no 1 MiB cap.
// - Requests with `Connection: Upgrade` (docker attach, exec start) arrive through handleUpgrade:
//   the same routes, with req.upgrade holding the hijacked socket; req.res is then undefined.
import { STATUS_CODES, ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import { BadRequest, BerthError, statusOf } from '../model/errors.js';
import type { Logger } from './log.js';
import { describeIssue } from './schema/issues.js';

/** Request bodies larger than this are refused with 413 (Docker has no limit; berth keeps memory bounded). */
export const MAX_BODY_BYTES = 1024 * 1024;

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
type Empty = z.ZodObject<{}>;

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** "/containers/{id}/start"; an optional /v1.xx prefix is accepted, as Docker does. */
  path: string;
  params?: P;
  query?: Q;
  body?: B;
  /** The handler reads the body itself from req.raw (tar streams). */
  rawBody?: boolean;
}

/** A hijacked connection (HTTP upgrade): the socket and what the client sent past the headers. */
export interface Upgrade {
  socket: Duplex;
  head: Buffer;
}

export interface Request<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  raw: IncomingMessage;
  /** The response; on an upgraded request one bound to no socket (the handler writes to `upgrade.socket`). */
  res: ServerResponse;
  upgrade: Upgrade | undefined;
}

/** A handler's answer when it has written the response itself (streams). */
export const HANDLED = Symbol('handled');

const CREATED = Symbol('created');
/** Answer 201 with this JSON body. */
export function created(body: Record<string, unknown>): Record<string, unknown> {
  return Object.assign(body, { [CREATED]: true });
}

interface Route {
  method: Method;
  pattern: RegExp;
  names: string[];
  params: z.ZodType;
  query: z.ZodType;
  body: z.ZodType | undefined;
  rawBody: boolean;
  handler: (req: Request<unknown, unknown, unknown>) => Promise<unknown>;
}

const EMPTY: Empty = z.object({});

export class Router {
  private readonly routes: Route[] = [];

  /**
   * headers: set on every answer (Docker's Api-Version, Ostype, ...). maxVersion: a /vX.Y/ prefix
   * above it is refused with moby's message.
   */
  constructor(
    private readonly log: Logger,
    private readonly opts: { headers?: Record<string, string>; maxVersion?: string } = {},
  ) {}

  route<P extends z.ZodType = Empty, Q extends z.ZodType = Empty, B extends z.ZodType = Empty>(
    spec: RouteSpec<P, Q, B>,
    handler: (req: Request<z.output<P>, z.output<Q>, z.output<B>>) => Promise<unknown>,
  ): this {
    // {name*} takes the rest up to the next literal part, slashes included (image names).
    const names = [...spec.path.matchAll(/\{([a-zA-Z]+)\*?\}/g)].map((m) => m[1]!);
    if (names.length > 0 && !spec.params) throw new Error(`route ${spec.method} ${spec.path}: path parameters need a params schema`);
    // "/containers/{id}/start" -> ^(?:/v1.41)?/containers/([^/]+)/start$
    const pattern = new RegExp(`^(?:/v[0-9.]+)?${spec.path.replace(/\{[a-zA-Z]+\*\}/g, '(.+)').replace(/\{[a-zA-Z]+\}/g, '([^/]+)')}$`);
    this.routes.push({
      method: spec.method,
      pattern,
      names,
      params: spec.params ?? EMPTY,
      query: spec.query ?? EMPTY,
      body: spec.body,
      rawBody: spec.rawBody ?? false,
      handler: handler as Route['handler'],
    });
    return this;
  }

  async handle(raw: IncomingMessage, res: ServerResponse): Promise<void> {
    let where = `${raw.method} ${raw.url}`;
    for (const [k, v] of Object.entries(this.opts.headers ?? {})) res.setHeader(k, v);
    try {
      const url = splitUrl(raw.url ?? '/');
      where = `${raw.method} ${url.pathname}`;
      const route = this.match(raw.method, url.pathname);
      // The body is read (and bounded) for every request, so a refused one never leaves it unread.
      const text = route?.rawBody ? '' : await readBody(raw);
      if (!route) throw new BerthError(404, `page not found: ${raw.method} ${url.pathname}`);
      const { params, query, body } = this.parts(route, url, text);
      const result = await route.handler({ params, query, body, raw, res, upgrade: undefined });
      if (result === HANDLED) return;
      if (result === undefined) {
        res.writeHead(204).end();
      } else if (typeof result === 'string') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(result);
      } else {
        const status = (result as Record<symbol, unknown>)[CREATED] ? 201 : 200;
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(result));
      }
    } catch (err) {
      const status = statusOf(err);
      const message = err instanceof Error ? err.message : String(err);
      if (status >= 500) this.log('error', `${where}: ${err instanceof Error ? (err.stack ?? message) : message}`);
      else this.log('debug', `${where}: ${status} ${message}`);
      try {
        // A streamed body (rawBody routes) refused early is drained so the answer can be read.
        if (!raw.readableEnded) raw.resume();
        if (res.headersSent) {
          // A stream broke after its headers went out: no way is left to say so but to cut it.
          res.destroy();
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json', ...(status === 413 ? { connection: 'close' } : {}) });
        res.end(JSON.stringify({ message }));
      } catch (e) {
        this.log('error', `${where}: cannot send the error answer: ${(e as Error).message}`);
        res.destroy();
      }
    }
  }

  /**
   * A request with `Connection: Upgrade` (Node hands those to the server's 'upgrade' event): the
   * route's handler gets the socket in req.upgrade and answers 101 itself. The body (exec start's
   * JSON) is the first Content-Length bytes after the headers. Errors are answered as HTTP.
   */
  async handleUpgrade(raw: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    let where = `${raw.method} ${raw.url}`;
    socket.on('error', () => undefined);
    try {
      const url = splitUrl(raw.url ?? '/');
      where = `${raw.method} ${url.pathname} (upgrade)`;
      const route = this.match(raw.method, url.pathname);
      if (!route) throw new BerthError(404, `page not found: ${raw.method} ${url.pathname}`);
      const length = Math.min(Number(raw.headers['content-length'] ?? 0) || 0, MAX_BODY_BYTES);
      let buf = head;
      while (buf.length < length) {
        const chunk = await new Promise<Buffer | null>((resolve) => {
          socket.once('data', (c: Buffer) => resolve(c));
          socket.once('end', () => resolve(null));
        });
        if (!chunk) break;
        buf = Buffer.concat([buf, chunk]);
      }
      const text = buf.subarray(0, length).toString('utf8');
      const rest = buf.subarray(length);
      const { params, query, body } = this.parts(route, url, text);
      await route.handler({ params, query, body, raw, res: new ServerResponse(raw), upgrade: { socket, head: rest } });
    } catch (err) {
      const status = statusOf(err);
      const message = err instanceof Error ? err.message : String(err);
      if (status >= 500) this.log('error', `${where}: ${err instanceof Error ? (err.stack ?? message) : message}`);
      else this.log('debug', `${where}: ${status} ${message}`);
      const payload = JSON.stringify({ message });
      const extra = Object.entries(this.opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      try {
        if (socket.writable) {
          socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Error'}\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`);
        } else socket.destroy();
      } catch (e) {
        this.log('error', `${where}: cannot send the error answer: ${(e as Error).message}`);
        socket.destroy();
      }
    }
  }

  private match(method: string | undefined, path: string): Route | undefined {
    const m = /^\/v(\d+)\.(\d+)\//.exec(path);
    const max = this.opts.maxVersion?.split('.').map(Number);
    if (m && max && (Number(m[1]) > max[0]! || (Number(m[1]) === max[0] && Number(m[2]) > max[1]!))) {
      throw new BadRequest(`client version ${m[1]}.${m[2]} is too new. Maximum supported API version is ${this.opts.maxVersion}`);
    }
    return this.routes.find((r) => r.method === method && r.pattern.test(path));
  }

  private parts(route: Route, url: { pathname: string; searchParams: URLSearchParams }, text: string): { params: unknown; query: unknown; body: unknown } {
    const values = (route.pattern.exec(url.pathname) ?? []).slice(1).map(decodePathPart);
    const params = parseWith(route.params, Object.fromEntries(route.names.map((n, i) => [n, values[i]])), 'path parameter');
    const query = parseWith(route.query, firstValues(url.searchParams), 'query parameter');
    const body = route.body ? parseWith(route.body, parseJson(text), '') : {};
    return { params, query, body };
  }
}

/**
 * For the server's 'clientError' event: a request Node's parser refuses (headers or URL over
 * 16 KiB, broken HTTP) gets Docker's JSON error shape too, instead of Node's bare status line.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify({ message: status === 431 ? 'the request line or headers are larger than 16 KiB' : `bad HTTP request: ${err.code ?? err.message}` });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** Parses one part of a request; a failure names the field (path parameter id, HostConfig.Dns[0], ...). */
function parseWith<S extends z.ZodType>(schema: S, input: unknown, kind: string): z.output<S> {
  const r = schema.safeParse(input, { reportInput: true });
  if (r.success) return r.data;
  throw new BadRequest(describeIssue(r.error.issues[0]!, kind));
}

/** Path and query of a request target, taken apart by hand: `new URL` reads "//x/..." as a host. */
function splitUrl(target: string): { pathname: string; searchParams: URLSearchParams } {
  const q = target.indexOf('?');
  const pathname = q < 0 ? target : target.slice(0, q);
  const hash = pathname.indexOf('#');
  return { pathname: hash < 0 ? pathname : pathname.slice(0, hash), searchParams: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
}

function decodePathPart(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new BadRequest(`invalid path: "${s}" is not valid percent-encoding`);
  }
}

function firstValues(q: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of q) if (!(k in out)) out[k] = v;
  return out;
}

function parseJson(text: string): unknown {
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest('the request body is not valid JSON');
  }
}

/**
 * The body as text, at most MAX_BODY_BYTES. A larger one is drained (so the client can read the
 * answer) but not kept, and answered 413; one that keeps coming past 16 MiB loses its connection.
 */
function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  // Events rather than `for await`: the async iterator costs a few promise turns per request,
  // bodiless ones included (most of the API's).
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
      else if (size > 16 * MAX_BODY_BYTES) req.destroy(new BerthError(413, `the request body is larger than ${MAX_BODY_BYTES} bytes`));
    });
    req.once('error', reject);
    req.once('end', () => {
      if (size > MAX_BODY_BYTES || declared > MAX_BODY_BYTES) {
        reject(new BerthError(413, `the request body is larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const text = buf.toString('utf8');
      // Invalid UTF-8 would be silently replaced by U+FFFD: refuse it instead of guessing.
      if (!Buffer.from(text, 'utf8').equals(buf)) reject(new BadRequest('the request body is not valid UTF-8'));
      else resolve(text);
    });
  });
}
