// A small router for the HTTP API on the unix socket: JSON in, JSON out, typed errors mapped
// to their status with Docker's {"message": "..."} body.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BadRequest, BerthError, statusOf } from '../model/errors.js';
import type { Logger } from './log.js';

export interface Request {
  params: string[];
  query: URLSearchParams;
  body: unknown;
  raw: IncomingMessage;
  res: ServerResponse;
}

type Handler = (req: Request) => Promise<unknown>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

/** A handler's answer when it has written the response itself (streams). */
export const HANDLED = Symbol('handled');

export class Router {
  private readonly routes: Route[] = [];

  constructor(private readonly log: Logger) {}

  on(method: string, path: string, handler: Handler): this {
    // "/containers/{id}/start" -> ^/containers/([^/]+)/start$ ; an optional /v1.xx prefix is accepted.
    const pattern = new RegExp(`^(?:/v[0-9.]+)?${path.replace(/\{[a-z]+\}/g, '([^/]+)')}$`);
    this.routes.push({ method, pattern, handler });
    return this;
  }

  async handle(raw: IncomingMessage, res: ServerResponse): Promise<void> {
    let path = raw.url ?? '/';
    try {
      const url = new URL(path, 'http://berth');
      path = url.pathname;
      const route = this.routes.find((r) => r.method === raw.method && r.pattern.test(url.pathname));
      if (!route) throw new BerthError(404, `page not found: ${raw.method} ${url.pathname}`);
      const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map(decodeURIComponent);
      const body = await readBody(raw);
      const result = await route.handler({ params, query: url.searchParams, body, raw, res });
      if (result === HANDLED) return;
      if (result === undefined) {
        res.writeHead(204).end();
      } else if (typeof result === 'string') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(result);
      } else {
        const status = (result as { __status?: number }).__status ?? 200;
        const { __status: _s, ...rest } = result as Record<string, unknown>;
        const out = Array.isArray(result) ? result : rest;
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      }
    } catch (err) {
      this.fail(raw, path, res, err);
    }
  }

  /** The error answer: Docker's {"message"} with the error's status; a 500 is logged with its stack. */
  private fail(raw: IncomingMessage, path: string, res: ServerResponse, err: unknown): void {
    const status = statusOf(err);
    const message = err instanceof Error ? err.message : String(err);
    if (status >= 500) this.log('error', `${raw.method} ${path}: ${err instanceof Error ? (err.stack ?? message) : message}`);
    else this.log('debug', `${raw.method} ${path}: ${status} ${message}`);
    try {
      if (res.headersSent) {
        // A stream broke after its headers went out: there is no way left to say so but to cut it.
        res.destroy();
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message }));
    } catch (e) {
      this.log('error', `${raw.method} ${path}: cannot send the error answer: ${(e as Error).message}`);
      res.destroy();
    }
  }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return {};
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest('the request body is not valid JSON');
  }
}
