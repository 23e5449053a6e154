// Metric 10: the catalog (Consul's HTTP API on berthd's socket). (a) Wake-up latency of a blocking
// query: a client parked on GET /v1/health/service/svc?index=N&wait=30s, then another client
// registers a change to svc (PUT /v1/agent/service/register); the time from sending the PUT to
// the parked client having its whole answer. (b) Reads per second of /v1/health/service/svc by
// keep-alive clients. Both with 1 and with many other services registered (every change rebuilds
// the catalog view from the whole state).
import { Agent, request } from 'node:http';
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { sleep } from '../lib/proc.js';
import { percentile } from '../lib/stats.js';
import type { BerthSystem } from '../systems/berth.js';
import { describe, guarded, usable, type MetricContext } from './common.js';

interface Res {
  status: number;
  index: number;
  body: string;
}

/** One request; without `agent` on a connection of its own (no keep-alive socket the server may be closing). */
function get(sock: string, path: string, agent: Agent | false = false, method = 'GET', body?: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: sock, method, path, agent, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, index: Number(res.headers['x-consul-index'] ?? 0), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function put(sock: string, body: unknown): Promise<void> {
  const r = await get(sock, '/v1/agent/service/register', false, 'PUT', body);
  if (r.status !== 200) throw new Error(`register: ${r.status} ${r.body}`);
}

export async function metricCatalog(ctx: MetricContext, systems: BerthSystem[], berth: string[]): Promise<MetricResult> {
  const counts = ctx.sizes.catalogServices;
  const wakeups = ctx.sizes.catalogWakeups;
  const seconds = ctx.sizes.catalogReadSeconds;
  const clients = 4;
  const b = new MetricBuilder({
    id: 'catalog',
    title: '10. Catalog: blocking-query wake-up and reads',
    description:
      `Consul's HTTP API served by berthd on its unix socket. Wake-up: a client waits on ` +
      `\`GET /v1/health/service/svc?index=N&wait=30s\`; another registers a change to svc ` +
      `(\`PUT /v1/agent/service/register\`, its port changed); the time from sending the PUT until the waiting client ` +
      `has its whole answer (${wakeups} changes; goal p50 ≤ 5 ms). It includes the PUT's parse, the state change ` +
      `under berthd's lock, the firewall/DNS/catalog followers and the answer. Reads: ${clients} keep-alive clients ` +
      `reading \`/v1/health/service/svc\` (3 instances) for ${seconds} s. Each with 1 and with ${counts[counts.length - 1]} services registered.`,
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('catalog'),
  });
  for (const n of counts) {
    b.measure(`wake${n}`, `blocking query wake-up after a change, ${n} service${n === 1 ? '' : 's'}`, 'ms', 'lower');
    b.measure(`reads${n}`, `reads of one service, ${n} service${n === 1 ? '' : 's'}`, 'reads/s', 'higher');
  }
  const live = await usable(b, systems, ctx);
  try {
    for (const s of live) {
      await guarded(b, s, ctx, async () => {
        await s.startDaemon();
        await describe(b, s);
        const sock = s.socketPath;
        for (let i = 0; i < 3; i++) await put(sock, { Name: 'svc', ID: `svc-${i}`, Address: `10.9.0.${i + 1}`, Port: 8080 });
        let registered = 1;
        for (const n of counts) {
          ctx.log(`  ${s.name}: ${n} services`);
          for (; registered < n; registered++) await put(sock, { Name: `other-${registered}`, Address: `10.8.${registered >> 8}.${registered & 255}`, Port: 80 });
          const lat: number[] = [];
          for (let i = 0; i < wakeups; i++) {
            const first = await get(sock, '/v1/health/service/svc');
            const parked = get(sock, `/v1/health/service/svc?index=${first.index}&wait=30s`);
            // Let the blocking request reach berthd and park (it cannot be observed from outside).
            await sleep(15);
            const t0 = process.hrtime.bigint();
            const changed = put(sock, { Name: 'svc', ID: 'svc-0', Address: '10.9.0.1', Port: 9000 + (i % 2) });
            const woke = await parked;
            const ms = Number(process.hrtime.bigint() - t0) / 1e6;
            await changed;
            if (woke.index <= first.index) throw new Error(`the blocking query returned without a new index (${woke.index} after ${first.index})`);
            lat.push(ms);
            b.add(`wake${n}`, s.name, ms);
          }
          b.note(`${n} service(s): wake-up p90 ${percentile(lat, 90)?.toFixed(2)} ms, p99 ${percentile(lat, 99)?.toFixed(2)} ms.`);
          for (let round = 0; round < 3; round++) {
            const agent = new Agent({ keepAlive: true, maxSockets: clients });
            let reads = 0;
            const end = Date.now() + seconds * 1000;
            await Promise.all(
              Array.from({ length: clients }, async () => {
                while (Date.now() < end) {
                  const r = await get(sock, '/v1/health/service/svc', agent).catch((e: Error) => {
                    throw new Error(`read #${reads} of round ${round}: ${e.stack}`);
                  });
                  if (r.status !== 200) throw new Error(`read: ${r.status}`);
                  reads++;
                }
              }),
            );
            agent.destroy();
            b.add(`reads${n}`, s.name, reads / seconds);
          }
        }
        await s.stop();
      });
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}
