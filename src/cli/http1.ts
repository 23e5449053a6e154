// One HTTP/1.1 exchange over a unix socket, without node:http: the CLI's plain calls (ps, run -d,
// rm, inspect ...) send one request with `Connection: close` and read the answer until it is
// complete (Content-Length or the last chunk) or berthd closes the connection. Loading node:http (its agent, parser glue and streams) is ~4 ms of every
// berth command's start here; streamed answers (logs -f, run's attach and wait) still use it.
import { connect } from 'node:net';

export interface Http1Response {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Buffer;
}

/** Largest answer read (berthd's largest JSON answers are inspect and ps of many sandboxes). */
const MAX_RESPONSE = 256 * 1024 * 1024;

export function http1(socketPath: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Http1Response> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const chunks: Buffer[] = [];
    let size = 0;
    sock.on('connect', () => {
      const data = body === undefined ? undefined : Buffer.from(body, 'utf8');
      const head = [`${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close'];
      for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`);
      head.push(`Content-Length: ${data ? data.length : 0}`);
      // write, not end: a server may drop a request whose client half-closed before the answer.
      sock.write(data ? Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), data]) : `${head.join('\r\n')}\r\n\r\n`);
    });
    let done = false;
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      f();
    };
    sock.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_RESPONSE) return void sock.destroy(new Error(`berthd's answer is larger than ${MAX_RESPONSE} bytes`));
      chunks.push(c);
      // Complete as soon as the declared body is in, without waiting for the close.
      const raw = chunks.length === 1 ? c : Buffer.concat(chunks);
      if (!isComplete(raw)) return;
      let res: Http1Response;
      try {
        res = parseResponse(raw);
      } catch {
        return; // a chunk that only looked like the last one: read on (the close ends it anyway)
      }
      finish(() => resolve(res));
      sock.destroy();
    });
    sock.on('error', (e) => finish(() => reject(e)));
    sock.on('close', () => {
      if (done) return;
      try {
        const res = parseResponse(Buffer.concat(chunks));
        finish(() => resolve(res));
      } catch (e) {
        finish(() => reject(e));
      }
    });
  });
}

/** Has `raw` the whole answer its headers declare (Content-Length, or chunked up to the last chunk)? */
function isComplete(raw: Buffer): boolean {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = raw.subarray(0, end).toString('latin1');
  if (/^HTTP\/1\.[01] (1\d\d|204|304)/.test(head)) return true;
  const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (len) return raw.length - (end + 4) >= Number(len[1]);
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return raw.subarray(-5).toString('latin1') === '0\r\n\r\n';
  return false;
}

/** A whole HTTP/1.1 response (read until complete or until the connection closed). */
export function parseResponse(raw: Buffer): Http1Response {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('berthd closed the connection before a complete answer');
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) throw new Error(`not an HTTP answer from berthd: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  else if (headers['content-length'] !== undefined) {
    const len = Number(headers['content-length']);
    if (!Number.isSafeInteger(len) || len < 0 || len > body.length) throw new Error('berthd closed the connection before the whole answer');
    body = body.subarray(0, len);
  }
  return { status: Number(m[1]), headers, body };
}

function dechunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) throw new Error('berthd closed the connection in the middle of a chunked answer');
    const len = parseInt(buf.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (!Number.isSafeInteger(len) || len < 0) throw new Error('bad chunk in berthd\'s answer');
    if (len === 0) return Buffer.concat(out);
    if (eol + 2 + len > buf.length) throw new Error('berthd closed the connection in the middle of a chunked answer');
    out.push(buf.subarray(eol + 2, eol + 2 + len));
    at = eol + 2 + len + 2;
  }
}
