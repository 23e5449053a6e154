// A watcher inside one sandbox's network namespace (nsenter --net=...), driven over stdin/stdout
// by bench/multihost.ts, one JSON object per line. It answers "when did this name become (or stop
// being) visible from here", to a few milliseconds, instead of a coarse poll through nsenter:
//
//   {"op":"appear","name":N,"server":DNS,"port":P,"intervalMs":5,"timeoutMs":20000}
//     sends an A query for N to DNS every intervalMs until one is answered with an address
//     (tDns: when that answer arrived), then opens a TCP connection to that address:P every
//     intervalMs until one gets an answer, SYN-ACK or RST (tReach: the first; "how" says which).
//     -> {"op":"appear","name","ip","tDns","tReach","how","queries"} or {...,"error"}
//   {"op":"reach","ip":A,"port":P,"intervalMs":5,"timeoutMs":20000}
//     the TCP part alone, for an address known in advance -> {"op":"reach","ip","tReach","how"}
//   {"op":"vanish","name":N,"server":DNS,"intervalMs":10,"timeoutMs":60000}
//     queries until an answer has no address (tGone: when that answer arrived).
//     -> {"op":"vanish","name","tGone","queries"} or {...,"error"}
// Times are wall-clock milliseconds (performance.timeOrigin + now), the clock berthd's log and
// the etcd observer use too (one machine). Requests run one at a time, in order.
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import dnsPacket from 'dns-packet';

const now = () => performance.timeOrigin + performance.now();
const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');

interface Request {
  op: 'appear' | 'vanish' | 'reach';
  name: string;
  ip?: string;
  server: string;
  port?: number;
  intervalMs?: number;
  timeoutMs?: number;
}

/** Queries `name` every `intervalMs` until `done(addresses)` says so; resolves with the time
 * the deciding answer arrived and the number of queries sent. */
function pollDns(sock: Socket, req: Request, done: (ips: string[]) => boolean): Promise<{ t: number; ips: string[]; queries: number }> {
  return new Promise((resolve, reject) => {
    const interval = req.intervalMs ?? 5;
    const deadline = now() + (req.timeoutMs ?? 20_000);
    let id = Math.floor(Math.random() * 0xffff);
    let queries = 0;
    let finished = false;
    const onMessage = (msg: Buffer) => {
      if (finished) return;
      const t = now();
      let p: dnsPacket.Packet;
      try {
        p = dnsPacket.decode(msg);
      } catch {
        return;
      }
      if (p.questions?.[0]?.name !== req.name) return; // a late answer to an earlier request
      const ips = (p.answers ?? []).flatMap((a) => (a.type === 'A' ? [String(a.data)] : []));
      if (!done(ips)) return;
      finish();
      resolve({ t, ips, queries });
    };
    const finish = () => {
      finished = true;
      clearInterval(timer);
      sock.off('message', onMessage);
    };
    sock.on('message', onMessage);
    const send = () => {
      if (now() > deadline) {
        finish();
        reject(new Error(`no deciding answer for ${req.name} within ${req.timeoutMs ?? 20_000} ms (${queries} queries)`));
        return;
      }
      id = (id + 1) & 0xffff;
      queries++;
      sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: req.name }] }), 53, req.server);
    };
    const timer = setInterval(send, interval);
    send();
  });
}

/** A TCP connection attempt to ip:port every `intervalMs` (each given 1 s); the first answer
 * (connected, or refused: a RST came back, so the path works both ways) wins. */
function pollTcp(ip: string, port: number, intervalMs: number, timeoutMs: number): Promise<{ t: number; how: string }> {
  return new Promise((resolve, reject) => {
    const deadline = now() + timeoutMs;
    let finished = false;
    const win = (how: string) => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      resolve({ t: now(), how });
    };
    const attempt = () => {
      if (now() > deadline) {
        finished = true;
        clearInterval(timer);
        reject(new Error(`${ip}:${port} not reachable within ${timeoutMs} ms`));
        return;
      }
      const s = connect({ host: ip, port });
      s.setTimeout(1000, () => s.destroy());
      s.once('connect', () => {
        win('connected');
        s.destroy();
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNREFUSED') win('refused');
      });
    };
    const timer = setInterval(attempt, intervalMs);
    attempt();
  });
}

async function handle(sock: Socket, req: Request): Promise<object> {
  const base = { op: req.op, name: req.name, ip: req.ip };
  try {
    if (req.op === 'reach') {
      const tcp = await pollTcp(req.ip ?? '', req.port ?? 80, req.intervalMs ?? 5, req.timeoutMs ?? 20_000);
      return { ...base, tReach: tcp.t, how: tcp.how };
    }
    if (req.op === 'appear') {
      const dns = await pollDns(sock, req, (ips) => ips.length > 0);
      const ip = dns.ips[0]!;
      const tcp = await pollTcp(ip, req.port ?? 80, req.intervalMs ?? 5, req.timeoutMs ?? 20_000);
      return { ...base, ip, tDns: dns.t, tReach: tcp.t, how: tcp.how, queries: dns.queries };
    }
    const dns = await pollDns(sock, { intervalMs: 10, timeoutMs: 60_000, ...req }, (ips) => ips.length === 0);
    return { ...base, tGone: dns.t, queries: dns.queries };
  } catch (e) {
    return { ...base, error: (e as Error).message };
  }
}

const sock = createSocket('udp4');
sock.bind(0, () => {
  let chain = Promise.resolve();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
    } catch {
      out({ error: `not JSON: ${line.slice(0, 100)}` });
      return;
    }
    chain = chain.then(async () => {
      out(await handle(sock, req));
    });
  });
  rl.on('close', () => void chain.then(() => sock.close()));
  out({ op: 'ready' });
});
