// A steady DNS client for latency while something else happens: sends one A query every
// --interval-ms to --server for --name over UDP, for --seconds, each with a 1 s timeout, and
// prints one JSON line: {"sent": [wall-clock ms of each query], "ms": [latency, -1 if lost]}.
// Run inside a sandbox's network namespace (nsenter --net=...). Wall-clock times
// (performance.timeOrigin + now) let the harness pick the queries sent during an operation.
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import dnsPacket from 'dns-packet';

function arg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : def;
  if (v === undefined) throw new Error(`dns-prober: --${name} is required`);
  return v;
}

const server = arg('server');
const name = arg('name');
const intervalMs = Number(arg('interval-ms', '2'));
const seconds = Number(arg('seconds', '4'));
const now = () => performance.timeOrigin + performance.now();

const sent: number[] = [];
const ms: number[] = [];
const pending = new Map<number, number>(); // query id -> index
const sock = createSocket('udp4');
sock.on('message', (msg) => {
  const id = msg.readUInt16BE(0);
  const k = pending.get(id);
  if (k === undefined) return;
  pending.delete(id);
  ms[k] = now() - sent[k]!;
});
sock.bind(0, () => {
  const end = now() + seconds * 1000;
  let next = now();
  let id = 1;
  const tick = () => {
    const t = now();
    // Catch up if the timer was late, but never more than a few queries at once.
    for (let burst = 0; next <= t && burst < 5; burst++, next += intervalMs) {
      const qid = id++ & 0xffff;
      const k = sent.length;
      sent.push(now());
      ms.push(-1);
      pending.set(qid, k);
      const q = dnsPacket.encode({ type: 'query', id: qid, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
      sock.send(q, 53, server);
      setTimeout(() => pending.delete(qid), 1000).unref();
    }
    if (t < end) setTimeout(tick, Math.max(0, next - now()));
    else setTimeout(() => {
      process.stdout.write(JSON.stringify({ sent, ms }) + '\n');
      sock.close();
    }, 1100);
  };
  tick();
});
