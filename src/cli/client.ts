// The CLI's only way to berthd: HTTP over the unix socket. Plain calls go through http1.ts (no
// node:http at start-up); answers that stream (wait, attach, logs) through node:http.
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { http1, type Http1Response } from './http1.js';
import type { Duplex } from 'node:stream';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function socketPath(host: string | undefined): string {
  const h = host || process.env['BERTH_HOST'] || 'unix:///run/berth/berth.sock';
  if (!h.startsWith('unix://')) throw new ApiError(0, `unsupported host "${h}": berth listens on a unix socket, e.g. unix:///run/berth/berth.sock`);
  return h.slice('unix://'.length);
}

export class Client {
  constructor(private readonly socket: string) {}

  private open(method: string, path: string, body?: unknown, onRequest?: (req: ClientRequest) => void): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          // One connection per call, opened here rather than by an http.Agent: the agent's bookkeeping
          // (a TLS server name checked against an IPv6 pattern, 3-4 ms on first use) is start-up time.
          createConnection: () => connect(this.socket),
          method,
          path,
          headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {},
        },
        resolve,
      );
      onRequest?.(req);
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.unreachable(err)));
      req.end(data);
    });
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    let res: Http1Response;
    try {
      res = await http1(this.socket, method, path, data, data === undefined ? {} : { 'Content-Type': 'application/json' });
    } catch (err) {
      throw this.unreachable(err as NodeJS.ErrnoException);
    }
    return decode<T>(res.status, res.headers['content-type'], res.body.toString('utf8'));
  }

  private unreachable(err: NodeJS.ErrnoException): Error {
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
      return new ApiError(0, `Cannot connect to berthd at unix://${this.socket}. Is berthd running? (set BERTH_HOST or --host)`);
    }
    return err;
  }

  /**
   * A call whose answer comes later (wait, attach): settles once berthd has sent the headers, i.e.
   * has registered the request; `res` is the body to come; `cancel` hangs up.
   */
  async pending(method: string, path: string): Promise<{ res: IncomingMessage; cancel: () => void }> {
    let req: ClientRequest | undefined;
    const res = await this.open(method, path, undefined, (r) => (req = r));
    if ((res.statusCode ?? 500) >= 400) await this.read(res);
    return { res, cancel: () => req?.destroy() };
  }

  /**
   * A hijacked connection (attach, exec start): resolves with the raw socket once berthd answers
   * 101, and with what came with the answer; an error status becomes an ApiError.
   */
  upgrade(method: string, path: string, body?: unknown): Promise<{ sock: Duplex; head: Buffer }> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? '' : JSON.stringify(body);
      const req = request({
        socketPath: this.socket,
        method,
        path,
        headers: { connection: 'Upgrade', upgrade: 'tcp', ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) },
      });
      req.on('upgrade', (_res, sock, head) => resolve({ sock, head }));
      req.on('response', (res) => this.read(res).then(() => reject(new ApiError(res.statusCode ?? 500, `berthd did not upgrade ${path}`)), reject));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new ApiError(0, `Cannot connect to berthd at unix://${this.socket}. Is berthd running? (set BERTH_HOST or --host)`));
        else reject(err);
      });
      req.end(data);
    });
  }

  /** The JSON (or text) body of a response; an error status becomes an ApiError. */
  async read<T>(res: IncomingMessage): Promise<T> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return decode<T>(res.statusCode ?? 500, res.headers['content-type'], Buffer.concat(chunks).toString('utf8'));
  }

  /** Streams a response body (logs) to a writable. */
  async stream(path: string, out: NodeJS.WritableStream): Promise<void> {
    const res = await this.open('GET', path);
    if ((res.statusCode ?? 500) >= 400) await this.read(res);
    for await (const c of res) out.write(c as Buffer);
  }
}

/** An answer's body: JSON or text; an error status becomes an ApiError with berthd's message. */
function decode<T>(status: number, contentType: string | undefined, text: string): T {
  if (status >= 400) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      /* plain text */
    }
    throw new ApiError(status, message);
  }
  if (!text) return undefined as T;
  return ((contentType ?? '').includes('json') ? JSON.parse(text) : text) as T;
}
