// The user's side of an attached session (berth run -it, attach, exec -it): berthd's hijacked
// connection to our stdout, our stdin to it (raw, key by key, when it is a terminal and the
// sandbox has a TTY), the terminal's size to berthd at start and whenever it changes, and
// Docker's detach keys (ctrl-p ctrl-q unless --detach-keys), seen here as the docker CLI does.
import type { Duplex } from 'node:stream';
import { DetachFilter, parseDetachKeys } from '../daemon/docker/detach-keys.js';

export interface SessionOptions {
  tty: boolean;
  /** Our stdin goes to the program. */
  stdin: boolean;
  detachKeys: string;
  /** Tells berthd the terminal's size (rows, columns). */
  resize?: (rows: number, cols: number) => Promise<unknown>;
}

/** The user's terminal's size as Docker's ConsoleSize [rows, columns] (sent at create), or null. */
export function consoleSize(): [number, number] | null {
  return process.stdout.isTTY ? [process.stdout.rows, process.stdout.columns] : null;
}

/** As the docker CLI: -i with -t needs a terminal to read from. */
export function checkTty(o: { interactive?: boolean; tty?: boolean }): void {
  if (o.interactive && o.tty && !process.stdin.isTTY) throw Object.assign(new Error('the input device is not a TTY'), { exitCode: 1 });
}

/** Relays until the stream ends ('ended') or the user types the detach keys ('detached'). */
export async function relaySession(sock: Duplex, head: Buffer, o: SessionOptions): Promise<'ended' | 'detached'> {
  const stdin = process.stdin;
  const raw = o.tty && o.stdin && stdin.isTTY;
  const filter = o.tty ? new DetachFilter(parseDetachKeys(o.detachKeys)) : undefined;
  const cleanups: Array<() => void> = [];
  try {
    return await new Promise<'ended' | 'detached'>((resolve) => {
      if (head.length) process.stdout.write(head);
      sock.on('data', (b: Buffer) => process.stdout.write(b));
      sock.on('end', () => resolve('ended'));
      sock.on('close', () => resolve('ended'));
      sock.on('error', () => resolve('ended'));
      if (o.stdin) {
        if (raw) {
          stdin.setRawMode(true);
          cleanups.push(() => stdin.setRawMode(false));
        }
        const onData = (b: Buffer) => {
          const r = filter ? filter.feed(b) : { pass: b, detached: false };
          if (r.pass.length) sock.write(r.pass);
          if (r.detached) resolve('detached');
        };
        // Our stdin's end is the program's (half-close), as docker's.
        const onEnd = () => (sock as Duplex & { end(): void }).end();
        stdin.on('data', onData);
        stdin.on('end', onEnd);
        cleanups.push(() => {
          stdin.off('data', onData);
          stdin.off('end', onEnd);
          stdin.pause();
        });
      }
      const out = process.stdout;
      if (o.tty && o.resize && out.isTTY) {
        const send = () => void o.resize!(out.rows, out.columns).catch(() => undefined);
        send();
        out.on('resize', send);
        cleanups.push(() => out.off('resize', send));
      }
    });
  } finally {
    for (const c of cleanups.reverse()) c();
    sock.destroy();
  }
}
