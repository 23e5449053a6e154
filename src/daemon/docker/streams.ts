// Streams of the Docker API: hijacked connections (101 UPGRADED) or plain chunked answers, and
// the 8-byte multiplexed frames used when a container has no TTY.
import { open, stat } from 'node:fs/promises';
import type { Duplex, Writable } from 'node:stream';
import { DetachFilter } from './detach-keys.js';
import type { Request } from '../http.js';
import { DOCKER_HEADERS } from './system-routes.js';

export interface OutStream {
  write(b: Buffer): void;
  end(): void;
  closed(): boolean;
}

/** Frames stdout (1) or stderr (2) bytes as Docker's stdcopy reads them. */
export function frame(stream: 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/** Opens the answer: 101 on an upgraded request, else a streamed 200. */
/** With input, the caller reads the socket (and resumes it) once its listeners are in place. */
export function openStream(q: Request<unknown, unknown, unknown>, contentType: string, input = false): OutStream {
  if (q.upgrade) {
    const sock = q.upgrade.socket;
    let closed = false;
    sock.on('close', () => (closed = true));
    // Half-close from the client (no stdin) is stdin's end: keep writing until the output ends.
    sock.on('end', () => undefined);
    if (!input) sock.resume();
    const extra = Object.entries(DOCKER_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    sock.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${extra}\r\n`);
    return { write: (b) => void (closed || sock.write(b)), end: () => sock.end(), closed: () => closed };
  }
  const res = q.res;
  let closed = false;
  res.on('close', () => (closed = true));
  res.writeHead(200, { 'content-type': contentType });
  res.flushHeaders();
  return { write: (b) => void (closed || res.write(b)), end: () => res.end(), closed: () => closed };
}

/**
 * Sends what is appended to a file from offset on, until `until` settles (then what is left), or
 * the client goes. With `create` the file is opened (made) at once: reads then go through the
 * open file, so a log removed meanwhile (--rm) is still sent to its end. Returns the offset reached.
 */
export async function followFile(path: string, from: number, out: OutStream, send: (b: Buffer) => Buffer, until: Promise<unknown>, create = false): Promise<number> {
  let done = false;
  void until.then(
    () => (done = true),
    () => (done = true),
  );
  let offset = from;
  // The log appears when the container starts: attach comes first (docker run), so keep looking.
  let fh = await open(path, create ? 'a+' : 'r').catch(() => undefined);
  try {
    for (;;) {
      // done is read before the size: output written before the run ended is still sent.
      const finished = done;
      fh ??= await open(path, 'r').catch(() => undefined);
      const size = fh ? (await fh.stat()).size : 0;
      while (fh && offset < size) {
        const buf = Buffer.alloc(Math.min(65536, size - offset));
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        out.write(send(buf.subarray(0, bytesRead)));
      }
      if (finished || out.closed()) break;
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await fh?.close();
  }
  return offset;
}

export async function sizeOf(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

/**
 * What a hijacked client types, to a command's stdin: the bytes read with the request (head)
 * first. The client's half-close ends stdin when endOnClose (no TTY); with a TTY it ends only this
 * attachment, as do Docker's detach keys: the command goes on, its stdin open for the next
 * `docker attach` (moby closes a TTY's stdin never), and the returned promise settles.
 */
export function pipeInput(sock: Duplex, head: Buffer, stdin: Writable, o: { detachKeys?: Buffer; endOnClose: boolean }): Promise<void> {
  const filter = o.detachKeys ? new DetachFilter(o.detachKeys) : undefined;
  return new Promise<void>((detached) => {
    const onData = (b: Buffer) => {
      const r = filter ? filter.feed(b) : { pass: b, detached: false };
      if (r.pass.length) stdin.write(r.pass);
      if (r.detached) {
        sock.off('data', onData);
        sock.off('end', onEnd);
        detached();
      }
    };
    const onEnd = () => {
      if (o.endOnClose) stdin.end();
      else detached();
    };
    if (head.length) onData(head);
    sock.on('data', onData);
    sock.on('end', onEnd);
    sock.resume();
  });
}
