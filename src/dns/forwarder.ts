// Forwarding of the names berth does not own to upstream resolvers, from berthd's namespace.
//
// - Upstreams are tried in order, each with a bounded attempt timeout, the whole query with a
//   bounded budget: a dead upstream costs at most the attempt timeout, an unreachable one (ICMP
//   port unreachable, no route) nothing, and all dead gives the caller a failure fast.
// - An upstream that timed out recently is tried after the ones that did not (remembered for
//   `deadForMs`), and with a short probe timeout, so one dead resolver does not slow every query
//   and all of them dead costs a fraction of a second.
// - UDP attempts to one upstream share a connected socket (udp-channel.ts) for at most
//   CHANNEL_QUERIES queries or CHANNEL_MS, then a fresh one (new random source port) takes over:
//   no socket opened per query, and an off-path spoofer still has to guess a port that changes.
//   Each attempt has a fresh random ID not in flight on that socket; a response must come from the
//   upstream's address and port (connected socket), carry that ID and the same question, or it is
//   ignored (spoofing resistance). The client's ID is put back.
// - UDP answers with TC set are asked again over TCP; TCP clients are forwarded over TCP.
// - SERVFAIL and REFUSED from one upstream move on to the next (as Docker); the last such answer is
//   returned when no upstream does better.
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { UdpChannel, type Exchange } from './udp-channel.js';
import { responseFacts, sameQuestion, withId, RCODE } from './wire.js';

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwardOptions {
  /** Longest wait for one upstream, per attempt (ms). */
  attemptTimeoutMs: number;
  /** Longest time spent on one query over all upstreams (ms). */
  budgetMs: number;
  /** How long an upstream that timed out is tried last (ms). */
  deadForMs: number;
  /** Attempt timeout for an upstream in that state: a short probe, so all-dead costs little (ms). */
  probeTimeoutMs: number;
}

export const DEFAULT_FORWARD: ForwardOptions = { attemptTimeoutMs: 1000, budgetMs: 2000, deadForMs: 30_000, probeTimeoutMs: 250 };

export type ForwardResult =
  | { ok: true; response: Buffer; upstream: Upstream; via: 'udp' | 'tcp' }
  | { ok: false; why: string };


const MAX_TCP_MESSAGE = 65535;

export function upstreamKey(u: Upstream): string {
  return u.host.includes(':') ? `[${u.host}]:${u.port}` : `${u.host}:${u.port}`;
}

export class Forwarder {
  private readonly opts: ForwardOptions;
  private readonly deadSince = new Map<string, number>();
  private readonly inflight = new Set<() => void>();
  private readonly channels = new Map<string, UdpChannel>();
  private closed = false;

  constructor(opts: Partial<ForwardOptions> = {}) {
    this.opts = { ...DEFAULT_FORWARD, ...opts };
  }

  /** Number of upstream exchanges in progress. */
  get active(): number {
    return this.inflight.size;
  }

  /** Abort everything in flight; later forwards fail at once. */
  close(): void {
    this.closed = true;
    for (const abort of [...this.inflight]) abort();
    for (const ch of this.channels.values()) ch.retire();
    this.channels.clear();
  }

  private isDead(u: Upstream, now = Date.now()): boolean {
    const since = this.deadSince.get(upstreamKey(u));
    return since !== undefined && now - since < this.opts.deadForMs;
  }

  /** Upstreams in the order to try: those not recently timed out first, each group in given order. */
  order(upstreams: readonly Upstream[], now = Date.now()): Upstream[] {
    const alive: Upstream[] = [];
    const dead: Upstream[] = [];
    for (const u of upstreams) (this.isDead(u, now) ? dead : alive).push(u);
    return [...alive, ...dead];
  }

  /**
   * Send `query` (a parsed, valid query; `questionEnd` from parseQuery) to the upstreams.
   * The response returned carries the client's ID.
   */
  async forward(query: Buffer, questionEnd: number, upstreams: readonly Upstream[], clientProto: 'udp' | 'tcp'): Promise<ForwardResult> {
    if (this.closed) return { ok: false, why: 'server stopping' };
    if (upstreams.length === 0) return { ok: false, why: 'no upstream resolvers configured' };
    const clientId = query.readUInt16BE(0);
    const deadline = Date.now() + this.opts.budgetMs;
    let fallback: ForwardResult | undefined;
    const failures: string[] = [];
    for (const up of this.order(upstreams)) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) {
        failures.push(`${upstreamKey(up)}: not tried (time budget spent)`);
        continue;
      }
      const timeout = Math.min(this.isDead(up) ? this.opts.probeTimeoutMs : this.opts.attemptTimeoutMs, left);
      let via: 'udp' | 'tcp' = clientProto;
      let ex = clientProto === 'udp' ? await this.udp(query, questionEnd, up, timeout) : await this.tcp(query, questionEnd, up, timeout);
      if (ex.kind === 'response' && via === 'udp' && responseFacts(ex.msg)!.tc) {
        const left2 = deadline - Date.now();
        if (left2 > 0) {
          const full = await this.tcp(query, questionEnd, up, Math.min(this.opts.attemptTimeoutMs, left2));
          if (full.kind === 'response') {
            ex = full;
            via = 'tcp';
          }
          // else: keep the truncated answer; the client will ask again over TCP itself.
        }
      }
      const key = upstreamKey(up);
      if (ex.kind !== 'response') {
        if (ex.kind === 'timeout' || ex.kind === 'unreachable') this.deadSince.set(key, Date.now());
        failures.push(`${key}: ${ex.kind === 'timeout' ? `no answer in ${timeout} ms` : ex.why}`);
        continue;
      }
      this.deadSince.delete(key);
      const result: ForwardResult = { ok: true, response: withId(ex.msg, clientId), upstream: up, via };
      const rcode = responseFacts(ex.msg)!.rcode;
      if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) {
        fallback = result;
        failures.push(`${key}: rcode ${rcode}`);
        continue;
      }
      return result;
    }
    return fallback ?? { ok: false, why: failures.join('; ') };
  }

  private track<T>(start: (finish: (v: T) => void) => () => void, onAbort: T): Promise<T> {
    return new Promise<T>((resolve) => {
      let done = false;
      let cleanup: () => void = () => {};
      const finish = (v: T): void => {
        if (done) return;
        done = true;
        this.inflight.delete(abort);
        cleanup();
        resolve(v);
      };
      const abort = (): void => finish(onAbort);
      this.inflight.add(abort);
      cleanup = start(finish);
    });
  }

  /** A UDP channel to `up` with room for one more query (a new one when none has). */
  private channel(up: Upstream): UdpChannel {
    const key = upstreamKey(up);
    let ch = this.channels.get(key);
    if (!ch || !ch.usable()) {
      ch?.retire();
      ch = new UdpChannel(up, () => {
        if (this.channels.get(key) === ch) this.channels.delete(key);
      });
      this.channels.set(key, ch);
    }
    return ch;
  }

  private udp(query: Buffer, questionEnd: number, up: Upstream, timeoutMs: number): Promise<Exchange> {
    return this.track<Exchange>((finish) => {
      const ch = this.channel(up);
      const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
      const id = ch.send(query, questionEnd, finish);
      return () => {
        clearTimeout(timer);
        if (id !== undefined) ch.forget(id);
      };
    }, { kind: 'error', why: 'aborted' });
  }

  private tcp(query: Buffer, questionEnd: number, up: Upstream, timeoutMs: number): Promise<Exchange> {
    const id = randomInt(65536);
    const q = withId(query, id);
    return this.track<Exchange>((finish) => {
      const sock = net.connect({ host: up.host, port: up.port });
      sock.setNoDelay(true);
      const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
      let buf = Buffer.alloc(0);
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length, 0);
        sock.write(Buffer.concat([len, q]));
      });
      sock.on('data', (chunk) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (len > MAX_TCP_MESSAGE) return finish({ kind: 'error', why: 'bad TCP length' });
          if (buf.length < 2 + len) return;
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          const f = responseFacts(msg);
          if (f && f.qr && f.id === id && sameQuestion(q, questionEnd, msg)) return finish({ kind: 'response', msg: Buffer.from(msg) });
        }
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        const code = e.code ?? e.message;
        finish(code === 'ECONNREFUSED' || code === 'ENETUNREACH' || code === 'EHOSTUNREACH' ? { kind: 'unreachable', why: `tcp ${code}` } : { kind: 'error', why: `tcp ${code}` });
      });
      sock.on('close', () => finish({ kind: 'error', why: 'tcp connection closed without an answer' }));
      return () => {
        clearTimeout(timer);
        sock.destroy();
      };
    }, { kind: 'error', why: 'aborted' });
  }
}
