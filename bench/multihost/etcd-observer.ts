// The bench's own view of the cluster store, run in the lab's underlay namespace (nsenter) by
// bench/multihost.ts; one JSON object per line on stdout.
//
//   node etcd-observer.js --endpoints 10.99.0.11:2379,...
//   -> {"op":"ready"} once its watch of /berth/ is in place, then for every change
//      {"op":"event","t":ms,"type":"put"|"delete","key":K,"claimedAt"?:ms,"name"?:N,"host"?:H}
//      (t: when the event arrived here; a watcher like every berthd's, so t - claimedAt is etcd's
//      commit plus watch delivery as any host sees it)
//   stdin {"op":"scrape","tag":T} -> {"op":"scrape","tag":T,"counters":EtcdCounters summed over
//      the members, "members":n}
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Etcd3 } from 'etcd3';
import { addCounters, emptyCounters, parseEtcdMetrics } from './prom.js';

const i = process.argv.indexOf('--endpoints');
const endpoints = (i > 0 ? process.argv[i + 1] ?? '' : '').split(',').filter(Boolean);
if (!endpoints.length) throw new Error('etcd-observer: --endpoints A:2379,B:2379,... is required');
const now = () => performance.timeOrigin + performance.now();
const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

const client = new Etcd3({ hosts: endpoints.map((e) => `http://${e}`) });
const w = await client.watch().prefix('/berth/').create();
const event = (type: string) => (kv: { key: Buffer; value: Buffer }) => {
  const t = now();
  const rec: Record<string, unknown> = { op: 'event', t, type, key: kv.key.toString() };
  if (type === 'put') {
    try {
      const v = JSON.parse(kv.value.toString()) as { claimedAt?: number; name?: string; host?: string };
      if (typeof v.claimedAt === 'number') rec['claimedAt'] = v.claimedAt;
      if (typeof v.name === 'string') rec['name'] = v.name;
      if (typeof v.host === 'string') rec['host'] = v.host;
    } catch {
      // not a JSON value: the key and time are enough
    }
  }
  out(rec);
};
w.on('put', event('put'));
w.on('delete', event('delete'));

async function scrape(tag: string): Promise<void> {
  let sum = emptyCounters();
  let members = 0;
  for (const e of endpoints) {
    try {
      const r = await fetch(`http://${e}/metrics`, { signal: AbortSignal.timeout(5000) });
      sum = addCounters(sum, parseEtcdMetrics(await r.text()));
      members++;
    } catch {
      // a stopped member: counted in "members"
    }
  }
  out({ op: 'scrape', tag, counters: sum, members });
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  try {
    const req = JSON.parse(line) as { op: string; tag?: string };
    if (req.op === 'scrape') void scrape(req.tag ?? '');
  } catch {
    out({ error: `not JSON: ${line.slice(0, 100)}` });
  }
});
rl.on('close', () => {
  void w.cancel().finally(() => client.close());
});
out({ op: 'ready' });
