// berth's embedded DNS server. It runs inside berthd, in the host's namespace, and listens on the
// gateway address of every DNS-enabled network (UDP and TCP, port 53), nowhere else: sockets are
// bound to those exact addresses, never to 0.0.0.0, so it cannot be reached on the host's other
// addresses; the view also refuses sources that are not on a berth network or the host, and the
// firewall's input rules (another module) keep everything else out.
//
// Answers come from an immutable DnsView (plan/dns-view.ts) swapped in by setView(): a query is
// answered from whichever view is current when it arrives, so there is never a window without
// answers. Names the view does not own are forwarded (forwarder.ts).
//
// Lifecycle: new DnsServer(opts) -> start() -> setView(v) / setAddresses(ips) any number of times
// -> stop(). setAddresses diffs: new addresses get sockets, gone ones are closed.
import dgram from 'node:dgram';
import net from 'node:net';
import type { DnsView } from '../plan/dns-view.js';
import { Forwarder, type ForwardOptions, type Upstream } from './forwarder.js';
import { UdpWorkers, type ViewInput } from './udp-workers.js';
import type { LogFn } from './upstreams.js';
import { answerQuery, ROTATED, type AnswerCounts, type RatedLog, type ToForward } from './answer.js';
import { ResponseCache } from './response-cache.js';
import { errorResponse, RCODE, truncatedResponse, udpLimit } from './wire.js';

export interface DnsServerOptions {
  /** Port to listen on (53; tests use a high port). */
  port?: number;
  log?: LogFn;
  /** berthd's upstream resolvers, read per forwarded query (e.g. () => hostResolvers.servers()). */
  hostUpstreams?: () => readonly Upstream[];
  /** Port used for a sandbox's --dns servers (53; tests use another). */
  sandboxDnsPort?: number;
  forward?: Partial<ForwardOptions>;
  /** Close TCP connections idle this long (ms). */
  tcpIdleMs?: number;
  /** At most this many TCP client connections per address. */
  maxTcpConnections?: number;
  /** At most this many forwarded queries in flight; more get SERVFAIL at once. */
  maxInflight?: number;
  /** Retry binding an address that failed (e.g. not yet configured) after this long (ms); 0 = no retry. */
  bindRetryMs?: number;
  /**
   * Child processes that read the UDP sockets too (udp-worker.ts), each one more core for UDP
   * queries; 0 = berthd alone. Only views set with their inputs (setView's second argument)
   * reach them.
   */
  udpWorkers?: number;
}

export interface DnsStats {
  queries: number;
  local: number;
  forwarded: number;
  forwardFailed: number;
  refused: number;
  malformed: number;
  dropped: number;
  overloaded: number;
  tcpConnections: number;
}

export interface SetAddressesResult {
  listening: string[];
  failed: Array<{ ip: string; error: string }>;
}

interface Listener {
  ip: string;
  udp: dgram.Socket;
  tcp: net.Server;
  conns: Set<net.Socket>;
}

type Level = 'debug' | 'info' | 'warn' | 'error';

const MAX_TCP_QUERY = 4096;

export class DnsServer {
  private view: DnsView | undefined;
  /** Local answers of the current view, kept for repeated UDP queries (response-cache.ts). */
  private readonly answers = new ResponseCache();
  private readonly listeners = new Map<string, Listener>();
  private readonly binding = new Map<string, Promise<string | undefined>>();
  private wanted = new Set<string>();
  private readonly retry = new Map<string, NodeJS.Timeout>();
  private readonly forwarder: Forwarder;
  private started = false;
  private readonly port: number;
  private readonly log: LogFn;
  private readonly opts: Required<Omit<DnsServerOptions, 'log' | 'forward' | 'hostUpstreams'>> & Pick<DnsServerOptions, 'hostUpstreams'>;
  private readonly workers: UdpWorkers | undefined;
  private readonly rate = new Map<string, number>();
  readonly stats: DnsStats = { queries: 0, local: 0, forwarded: 0, forwardFailed: 0, refused: 0, malformed: 0, dropped: 0, overloaded: 0, tcpConnections: 0 };

  constructor(opts: DnsServerOptions = {}) {
    this.opts = {
      port: 53,
      sandboxDnsPort: 53,
      tcpIdleMs: 10_000,
      maxTcpConnections: 256,
      maxInflight: 1024,
      bindRetryMs: 1000,
      udpWorkers: 0,
      hostUpstreams: opts.hostUpstreams,
      ...stripUndefined(opts),
    } as DnsServer['opts'];
    this.port = this.opts.port;
    this.log = opts.log ?? (() => {});
    this.forwarder = new Forwarder(opts.forward);
    if (this.opts.udpWorkers > 0) {
      this.workers = new UdpWorkers(this.opts.udpWorkers, this.log, (ip, msg, port, address) => {
        const l = this.listeners.get(ip);
        if (l) this.onUdp(l, msg, { address, port, family: address.includes(':') ? 'IPv6' : 'IPv4', size: msg.length });
      });
    }
  }

  /** What each live UDP worker has answered (berthd's own answers are in stats). */
  workerCounts(): Promise<AnswerCounts[]> {
    return this.workers?.counts() ?? Promise.resolve([]);
  }

  /** PIDs of the UDP worker processes alive now. */
  get workerPids(): number[] {
    return this.workers?.pids ?? [];
  }

  /** Start serving the addresses set so far (and later ones as they are set). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.workers?.start();
    await this.sync();
  }

  /** Close every socket and abort forwarded queries in flight. */
  async stop(): Promise<void> {
    this.started = false;
    for (const t of this.retry.values()) clearTimeout(t);
    this.retry.clear();
    this.forwarder.close();
    await this.workers?.stop();
    await Promise.allSettled([...this.binding.values()]);
    await Promise.all([...this.listeners.values()].map((l) => this.close(l)));
    this.listeners.clear();
  }

  /**
   * Swap the answers: one assignment, no gap. With UDP workers and the view's inputs, resolves once
   * the workers answer from it too.
   */
  setView(view: DnsView, input?: ViewInput): Promise<void> {
    this.view = view;
    return this.workers && input ? this.workers.setView(input) : Promise.resolve();
  }

  get currentView(): DnsView | undefined {
    return this.view;
  }

  /** Addresses with a UDP and a TCP socket bound. */
  get addresses(): string[] {
    return [...this.listeners.keys()].sort();
  }

  /**
   * Listen on exactly these addresses (gateway IPs of DNS-enabled networks; dnsAddresses(state)).
   * Call after the addresses exist on their bridges. Addresses that fail to bind are reported, and
   * retried every bindRetryMs while still wanted.
   */
  async setAddresses(ips: readonly string[]): Promise<SetAddressesResult> {
    this.wanted = new Set(ips);
    if (!this.started) return { listening: [], failed: [] };
    return this.sync();
  }

  private async sync(): Promise<SetAddressesResult> {
    const gone = [...this.listeners.values()].filter((l) => !this.wanted.has(l.ip));
    for (const l of gone) this.listeners.delete(l.ip);
    for (const [ip, t] of this.retry) {
      if (!this.wanted.has(ip)) {
        clearTimeout(t);
        this.retry.delete(ip);
      }
    }
    await Promise.all(gone.map((l) => this.close(l)));
    const failed: SetAddressesResult['failed'] = [];
    await Promise.all(
      [...this.wanted].map(async (ip) => {
        const err = await this.ensure(ip);
        if (err) failed.push({ ip, error: err });
      }),
    );
    return { listening: this.addresses.filter((a) => this.wanted.has(a)), failed };
  }

  private ensure(ip: string): Promise<string | undefined> {
    if (this.listeners.has(ip)) return Promise.resolve(undefined);
    let p = this.binding.get(ip);
    if (!p) {
      p = this.bind(ip).finally(() => this.binding.delete(ip));
      this.binding.set(ip, p);
    }
    return p;
  }

  private async bind(ip: string): Promise<string | undefined> {
    const udp = dgram.createSocket({ type: ip.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup });
    const tcp = net.createServer({ pauseOnConnect: false });
    const l: Listener = { ip, udp, tcp, conns: new Set() };
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: ip, port: this.port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: ip, port: this.port, backlog: 128, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      await this.close(l, false);
      this.logRated('warn', `bind:${ip}:${code}`, `dns: cannot listen on ${ip}:${this.port}: ${code}`);
      this.scheduleRetry(ip);
      return code;
    }
    if (!this.started || !this.wanted.has(ip)) {
      await this.close(l, false);
      return undefined;
    }
    udp.on('error', (e) => this.logRated('error', `udp:${ip}`, `dns: UDP socket on ${ip}: ${e.message}`));
    udp.on('message', (msg, rinfo) => this.onUdp(l, msg, rinfo));
    tcp.maxConnections = this.opts.maxTcpConnections;
    tcp.on('error', (e) => this.logRated('error', `tcp:${ip}`, `dns: TCP socket on ${ip}: ${e.message}`));
    tcp.on('connection', (s) => this.onTcp(l, s));
    this.listeners.set(ip, l);
    this.workers?.listen(ip, udp);
    this.log('info', `dns: listening on ${ip}:${this.port} (udp, tcp)`);
    return undefined;
  }

  private scheduleRetry(ip: string): void {
    if (!this.opts.bindRetryMs || !this.started || this.retry.has(ip)) return;
    const t = setTimeout(() => {
      this.retry.delete(ip);
      if (this.started && this.wanted.has(ip)) this.ensure(ip).catch((e) => this.internalError(e));
    }, this.opts.bindRetryMs);
    t.unref();
    this.retry.set(ip, t);
  }

  private async close(l: Listener, wasListening = true): Promise<void> {
    if (wasListening) await this.workers?.unlisten(l.ip);
    for (const s of l.conns) s.destroy();
    l.conns.clear();
    await Promise.all([
      new Promise<void>((r) => {
        try {
          l.udp.close(() => r());
        } catch {
          r();
        }
      }),
      new Promise<void>((r) => l.tcp.close(() => r())),
    ]);
    if (this.started && wasListening) this.log('info', `dns: stopped listening on ${l.ip}:${this.port}`);
  }

  private onUdp(l: Listener, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const reply = (resp: Buffer | undefined): void => {
      if (!resp || this.listeners.get(l.ip) !== l) return;
      try {
        // No callback: then Node sends at once (uv_udp_try_send) instead of queueing the reply and
        // calling back through the event loop, most of a reply's cost. A reply the kernel refuses
        // is lost either way; the client asks again.
        // The socket may have closed while a forwarded answer was on its way (network removed).
        l.udp.send(resp, rinfo.port, rinfo.address);
      } catch (e) {
        this.logRated('debug', `send:${l.ip}`, `dns: reply to ${rinfo.address}: ${(e as Error).message}`);
      }
    };
    try {
      const r = this.handle(msg, l.ip, plainIp(rinfo.address), 'udp');
      if (r instanceof Promise) r.then(reply, (e) => this.internalError(e));
      else reply(r);
    } catch (e) {
      this.internalError(e);
    }
  }

  private onTcp(l: Listener, s: net.Socket): void {
    this.stats.tcpConnections++;
    l.conns.add(s);
    s.setNoDelay(true);
    s.setTimeout(this.opts.tcpIdleMs, () => s.destroy());
    s.on('error', () => s.destroy());
    s.on('close', () => l.conns.delete(s));
    const asker = plainIp(s.remoteAddress ?? '');
    let buf = Buffer.alloc(0);
    s.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len > MAX_TCP_QUERY || len < 12) {
          // Not a DNS query stream: answer FORMERR if there is a header, then hang up.
          this.stats.malformed++;
          if (buf.length >= 14) write(s, errorResponse(buf.subarray(2, 14), RCODE.FORMERR, 0));
          s.end();
          s.destroySoon();
          buf = Buffer.alloc(0);
          return;
        }
        if (buf.length < 2 + len) return;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        try {
          const r = this.handle(msg, l.ip, asker, 'tcp');
          if (r instanceof Promise) r.then((resp) => resp && write(s, resp), (e) => this.internalError(e)).catch((e) => this.internalError(e));
          else if (r) write(s, r);
        } catch (e) {
          this.internalError(e);
        }
      }
    });
  }

  /** One query: a response now (local answers), a promise (forwarded), or undefined (dropped). */
  private handle(msg: Buffer, listenIp: string, askerIp: string, proto: 'udp' | 'tcp'): Buffer | undefined | Promise<Buffer | undefined> {
    const r = proto === 'udp' ? this.answers.answer(this.view, msg, listenIp, askerIp, this.stats, this.ratedLog) : answerQuery(this.view, msg, listenIp, askerIp, proto, this.stats, this.ratedLog);
    if (!r || Buffer.isBuffer(r) || r === ROTATED) return r === ROTATED ? undefined : r;
    return this.forward(msg, r, proto);
  }

  private forward(msg: Buffer, { query: q, upstreams: d }: ToForward, proto: 'udp' | 'tcp'): Buffer | Promise<Buffer | undefined> {
    const limit = proto === 'udp' ? udpLimit(q.edns) : 65535;
    const upstreams: readonly Upstream[] =
      d === 'host' ? (this.opts.hostUpstreams?.() ?? []) : d.map((host) => ({ host, port: this.opts.sandboxDnsPort }));
    if (this.forwarder.active >= this.opts.maxInflight) {
      this.stats.overloaded++;
      this.logRated('warn', 'overload', `dns: ${this.forwarder.active} forwarded queries in flight; answering SERVFAIL`);
      return errorResponse(msg, RCODE.SERVFAIL, q.questionEnd, { edns: !!q.edns });
    }
    this.stats.forwarded++;
    return this.forwarder.forward(msg, q.questionEnd, upstreams, proto).then((r) => {
      if (!r.ok) {
        this.stats.forwardFailed++;
        this.logRated('warn', `fwd:${upstreams.map((u) => u.host).join(',')}`, `dns: forwarding ${q.qname} failed: ${r.why}`);
        return errorResponse(msg, RCODE.SERVFAIL, q.questionEnd, { edns: !!q.edns });
      }
      if (proto === 'udp' && r.response.length > limit) return truncatedResponse(r.response, q.questionEnd);
      return r.response;
    });
  }

  private readonly ratedLog: RatedLog = (level, key, msg) => this.logRated(level, key, msg);

  private internalError(e: unknown): void {
    this.logRated('error', 'internal', `dns: internal error: ${(e as Error)?.stack ?? String(e)}`);
  }

  /** Log at most once per 10 s per key, so a flood cannot flood the log. */
  private logRated(level: Level, key: string, msg: string): void {
    const now = Date.now();
    const last = this.rate.get(key);
    if (last !== undefined && now - last < 10_000) return;
    if (this.rate.size > 1000) this.rate.clear();
    this.rate.set(key, now);
    this.log(level, msg);
  }
}

/** Answers a TCP client has not read yet, beyond which it is cut off. */
const MAX_TCP_BACKLOG = 256 * 1024;

function write(s: net.Socket, resp: Buffer): void {
  if (s.destroyed || !s.writable) return;
  if (s.writableLength > MAX_TCP_BACKLOG) {
    s.destroy();
    return;
  }
  const len = Buffer.alloc(2);
  len.writeUInt16BE(resp.length, 0);
  s.write(Buffer.concat([len, resp]));
}

/**
 * Replies only ever go to the asker's address as the kernel reported it (an IP literal), so the
 * socket's name lookup is the identity, called back at once: dns.lookup's validation and deferred
 * callback cost a tick per reply on the hot path.
 */
const literalLookup = ((address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void => {
  cb(null, address, address.includes(':') ? 6 : 4);
}) as unknown as dgram.SocketOptions['lookup'];

function plainIp(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
