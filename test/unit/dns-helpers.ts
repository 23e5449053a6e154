// Test helpers for the DNS server: a client bound to a chosen loopback source address (the
// "sandbox"), and a fake upstream resolver. Loopback only: 127.0.0.0/8 is all ours.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type DecodedPacket, type Packet } from 'dns-packet';

export interface QueryOpts {
  type?: string;
  proto?: 'udp' | 'tcp';
  edns?: number;
  id?: number;
  timeoutMs?: number;
}

export function encodeQuery(name: string, o: QueryOpts = {}): Buffer {
  const p: Packet = {
    type: 'query',
    id: o.id ?? Math.floor(Math.random() * 65536),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: (o.type ?? 'A') as 'A', name, class: 'IN' }],
  };
  if (o.edns) p.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: o.edns, flags: 0 } as never];
  return dnsPacket.encode(p);
}

/** Send raw bytes over UDP from `from` to server:port; resolve with the raw answer or undefined on timeout. */
export function udpRaw(server: string, port: number, from: string, msg: Buffer, timeoutMs = 1000): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const done = (v: Buffer | undefined): void => {
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done(undefined), timeoutMs);
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNREFUSED' ? done(undefined) : reject(e)));
    s.on('message', (m) => done(m));
    s.bind(0, from, () => s.send(msg, port, server));
  });
}

/** Send raw DNS messages over one TCP connection (length-prefixed) and collect `expect` answers. */
export function tcpRaw(server: string, port: number, from: string, msgs: Buffer[], expect = msgs.length, timeoutMs = 1000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const s = net.connect({ host: server, port, localAddress: from });
    const t = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, timeoutMs);
    s.on('connect', () => {
      s.write(
        Buffer.concat(
          msgs.flatMap((m) => {
            const l = Buffer.alloc(2);
            l.writeUInt16BE(m.length, 0);
            return [l, m];
          }),
        ),
      );
    });
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length >= expect) {
        clearTimeout(t);
        s.destroy();
        resolve(out);
      }
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

export async function ask(server: string, port: number, from: string, name: string, o: QueryOpts = {}): Promise<DecodedPacket | undefined> {
  const q = encodeQuery(name, o);
  const raw =
    o.proto === 'tcp' ? (await tcpRaw(server, port, from, [q], 1, o.timeoutMs ?? 1000))[0] : await udpRaw(server, port, from, q, o.timeoutMs ?? 1000);
  if (!raw) return undefined;
  const d = dnsPacket.decode(raw);
  if (d.id !== q.readUInt16BE(0)) throw new Error('answer with another id');
  return d;
}

export function rcode(p: DecodedPacket | undefined): string | undefined {
  return (p as (DecodedPacket & { rcode?: string }) | undefined)?.rcode;
}

export function addrs(p: DecodedPacket | undefined): string[] {
  return (p?.answers ?? []).filter((a) => a.type === 'A').map((a) => (a as { data: string }).data);
}

/**
 * A fake upstream resolver on loopback (UDP and TCP on one port):
 *   *.example          -> A 10.99.0.77
 *   big.example        -> 40 A records (truncated over UDP, full over TCP)
 *   nx.example         -> NXDOMAIN
 *   fail.example       -> SERVFAIL
 *   slow.example       -> no answer
 */
export class FakeUpstream {
  readonly received: Array<{ name: string; proto: 'udp' | 'tcp' }> = [];
  /** Source port of every UDP query received, in order. */
  readonly udpSourcePorts: number[] = [];
  private udp = dgram.createSocket('udp4');
  private tcp = net.createServer();
  port = 0;

  constructor(readonly host = '127.0.0.1', private readonly answerIp = '10.99.0.77') {}

  async start(): Promise<this> {
    // UDP and TCP on one port: take a free UDP port, try TCP on it, start again if TCP has it taken.
    for (let attempt = 0; ; attempt++) {
      await new Promise<void>((r) => this.udp.bind(0, this.host, () => r()));
      this.port = this.udp.address().port;
      const ok = await new Promise<boolean>((r) => {
        this.tcp.once('error', () => r(false));
        this.tcp.listen(this.port, this.host, () => r(true));
      });
      if (ok) break;
      if (attempt > 20) throw new Error('no free port for the fake upstream');
      await new Promise<void>((r) => this.udp.close(() => r()));
      this.udp = dgram.createSocket('udp4');
      this.tcp = net.createServer();
    }
    this.udp.on('message', (m, rinfo) => {
      this.udpSourcePorts.push(rinfo.port);
      const resp = this.respond(m, 'udp');
      if (resp) this.udp.send(resp, rinfo.port, rinfo.address);
    });
    this.tcp.on('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('error', () => {});
      s.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const m = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
          const resp = this.respond(m, 'tcp');
          if (resp) {
            const l = Buffer.alloc(2);
            l.writeUInt16BE(resp.length, 0);
            s.write(Buffer.concat([l, resp]));
          }
        }
      });
    });
    return this;
  }

  private respond(m: Buffer, proto: 'udp' | 'tcp'): Buffer | undefined {
    const q = dnsPacket.decode(m);
    const question = q.questions![0]!;
    const name = question.name.toLowerCase();
    this.received.push({ name, proto });
    if (name === 'slow.example') return undefined;
    const base = { type: 'response' as const, id: q.id, questions: q.questions, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED };
    if (name === 'nx.example') return dnsPacket.encode({ ...base, flags: base.flags | 3 });
    if (name === 'fail.example') return dnsPacket.encode({ ...base, flags: base.flags | 2 });
    if (name === 'big.example') {
      if (proto === 'udp') return dnsPacket.encode({ ...base, flags: base.flags | dnsPacket.TRUNCATED_RESPONSE });
      const answers = Array.from({ length: 40 }, (_, i) => ({ type: 'A' as const, name: question.name, ttl: 60, data: `10.98.0.${i + 1}` }));
      return dnsPacket.encode({ ...base, answers });
    }
    if (question.type !== 'A') return dnsPacket.encode(base);
    return dnsPacket.encode({ ...base, answers: [{ type: 'A', name: question.name, ttl: 60, data: this.answerIp }] });
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.udp.close(() => r()));
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }
}

/** A UDP port that swallows queries (a resolver that is up but never answers). */
export async function blackhole(host = '127.0.0.1'): Promise<{ port: number; close: () => void; count: () => number }> {
  const s = dgram.createSocket('udp4');
  let n = 0;
  s.on('message', () => n++);
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return { port: s.address().port, close: () => s.close(), count: () => n };
}

/** A loopback port with nothing listening (UDP and TCP), found by binding and closing. */
export async function deadPort(host = '127.0.0.1'): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}
