// A sandbox's output file sent over HTTP: what is there, then (following) what is appended, until
// `done()` says the run is over. Reads go through the open file, so a log removed meanwhile
// (--rm) is still sent to the end.
import { open, type FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

export interface StreamLogOptions {
  /** 'start': the whole log; 'end': only what is written after the stream opened. */
  from: 'start' | 'end';
  /** True once no more output can come (checked between reads). */
  done: () => boolean;
  /** Create the file when it does not exist yet (attach before the first start). */
  create?: boolean;
}

export async function streamLog(path: string, res: ServerResponse, opts: StreamLogOptions): Promise<void> {
  let closed = false;
  res.on('close', () => (closed = true));
  const fh: FileHandle | undefined = await open(path, opts.create ? 'a+' : 'r').catch(() => undefined);
  const sizeNow = async () => (fh ? (await fh.stat()).size : 0);
  let offset = opts.from === 'end' ? await sizeNow() : 0;
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  res.flushHeaders();
  try {
    for (;;) {
      // done() is read before the size: output written before the run ended is still sent.
      const finished = opts.done();
      const size = await sizeNow();
      while (fh && offset < size && !closed) {
        const buf = Buffer.alloc(Math.min(65536, size - offset));
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        res.write(buf.subarray(0, bytesRead));
      }
      if (finished || closed) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await fh?.close();
    res.end();
  }
}
