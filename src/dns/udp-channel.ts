// One connected UDP socket to one upstream resolver, shared by the forwarded queries in flight to
// it (forwarder.ts). Opening a socket per query cost a socket(), connect() and close() each time;
// a channel pays that once per CHANNEL_QUERIES queries. It then retires (no new queries; closed
// when the last answer is in or timed out), so the source port still changes often and an
// off-path spoofer cannot learn it once and keep it.
//
// Matching: each query gets a random ID not in flight on this socket; an answer must carry a
// pending ID and the same question (the socket is connected, so only the upstream's address and
// port get through the kernel). An ICMP error on a connected socket (ECONNREFUSED ...) cannot be
// told apart per query: every query pending on the socket gets it, which is right, since they all
// go to the same upstream.
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { responseFacts, sameQuestion, withId } from './wire.js';

export type Exchange = { kind: 'response'; msg: Buffer } | { kind: 'timeout' } | { kind: 'unreachable'; why: string } | { kind: 'error'; why: string };

/** Queries sent through one socket before a fresh one (new source port) takes over. */
export const CHANNEL_QUERIES = 64;
/** Age after which a channel takes no new queries (ms). */
export const CHANNEL_MS = 5000;

interface Pending {
  query: Buffer;
  questionEnd: number;
  finish: (ex: Exchange) => void;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL']);

export class UdpChannel {
  private readonly sock: dgram.Socket;
  private readonly pending = new Map<number, Pending>();
  private readonly born = Date.now();
  private sent = 0;
  private retired = false;
  private closed = false;
  private connected = false;
  private readonly queue: Array<() => void> = [];

  constructor(up: { host: string; port: number }, private readonly onClose: () => void) {
    this.sock = dgram.createSocket(up.host.includes(':') ? 'udp6' : 'udp4');
    this.sock.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? e.message;
      this.failAll(UNREACHABLE.has(code) ? { kind: 'unreachable', why: code } : { kind: 'error', why: code });
      // A socket that saw an error other than an ICMP report is not trusted with more queries.
      if (!UNREACHABLE.has(code)) this.retire();
    });
    this.sock.on('message', (msg) => {
      const f = responseFacts(msg);
      if (!f || !f.qr) return;
      const p = this.pending.get(f.id);
      if (!p || !sameQuestion(p.query, p.questionEnd, msg)) return; // not ours
      this.pending.delete(f.id);
      p.finish({ kind: 'response', msg });
      this.maybeClose();
    });
    try {
      this.sock.connect(up.port, up.host, () => {
        this.connected = true;
        for (const send of this.queue.splice(0)) send();
      });
    } catch (e) {
      queueMicrotask(() => {
        this.failAll({ kind: 'error', why: (e as Error).message });
        this.retire();
      });
    }
  }

  /** Can take another query. */
  usable(): boolean {
    return !this.retired && this.sent < CHANNEL_QUERIES && Date.now() - this.born < CHANNEL_MS;
  }

  /** Send `query` with a fresh ID; `finish` gets the answer or an error. Returns the ID used. */
  send(query: Buffer, questionEnd: number, finish: (ex: Exchange) => void): number | undefined {
    if (this.closed) {
      queueMicrotask(() => finish({ kind: 'error', why: 'socket closed' }));
      return undefined;
    }
    let id = randomInt(65536);
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    const q = withId(query, id);
    this.pending.set(id, { query: q, questionEnd, finish });
    this.sent++;
    const go = (): void => {
      if (!this.pending.has(id) || this.closed) return;
      this.sock.send(q, (err) => {
        if (!err) return;
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        const code = (err as NodeJS.ErrnoException).code ?? err.message;
        p.finish(UNREACHABLE.has(code) ? { kind: 'unreachable', why: code } : { kind: 'error', why: code });
        this.maybeClose();
      });
    };
    if (this.connected) go();
    else this.queue.push(go);
    return id;
  }

  /** The query with this ID timed out or was aborted: an answer arriving later is ignored. */
  forget(id: number): void {
    if (this.pending.delete(id)) this.maybeClose();
  }

  /** Take no new queries; close once nothing is pending. */
  retire(): void {
    this.retired = true;
    this.maybeClose();
  }

  private failAll(ex: Exchange): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.finish(ex);
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.closed || this.pending.size > 0 || this.usable()) return;
    this.closed = true;
    this.onClose();
    try {
      this.sock.close();
    } catch {
      /* already closed */
    }
  }
}
