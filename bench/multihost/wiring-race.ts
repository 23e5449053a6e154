// A client that already sends to a sandbox's address while the sandbox starts: how long after
// `start` returns does its TCP handshake get an answer? On one host (no cluster), a bridge
// network; the client is a prober (prober.ts "reach") in another sandbox, one attempt every 5 ms.
// --neigh gives the client a static neighbour entry for the address first (as a VXLAN device's
// proxy answers ARP on an overlay), so that only the new sandbox's side can be late.
// Run (root): npm run build && node dist/bench/multihost/wiring-race.js [--n 40] [--neigh] [-- berthd args]
import { join } from 'node:path';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { withLab } from '../../test/e2e/lab.js';
import { percentile } from '../lib/stats.js';
import { LineProc } from './line-proc.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const dd = argv.indexOf('--');
const berthdArgs = dd >= 0 ? argv.slice(dd + 1) : [];
const own = dd >= 0 ? argv.slice(0, dd) : argv;
const n = own.includes('--n') ? Number(own[own.indexOf('--n') + 1]) : 40;
const neigh = own.includes('--neigh');
const now = () => performance.timeOrigin + performance.now();

await withLab('mbw', { berthdArgs }, async (lab) => {
  await lab.berthOk(['network', 'create', '--internal', '--subnet', '10.50.0.0/24', 'mbrace']);
  await lab.berthOk(['run', '-d', '--name', 'client', '--network', 'mbrace', '--', 'sleep', '3600']);
  const clientNs = await lab.sandboxNs('client');
  const p = await LineProc.start('client prober', clientNs, join(HERE, 'prober.js'), [], join(lab.dir, 'prober.log'));
  const ms: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const ip = `10.50.0.${20 + i}`;
      if (neigh) {
        const mac = '02:42:' + ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join(':');
        await lab.inNsOk(clientNs, ['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', 'eth0', 'nud', 'permanent']);
      }
      p.send({ op: 'reach', name: `w${i}`, ip, port: 80, intervalMs: 5, timeoutMs: 10_000 });
      const answer = p.next((l) => l.op === 'reach' && l['ip'] === ip, 15_000);
      await new Promise((r) => setTimeout(r, 50));
      const c = await lab.api('POST', `/containers/create?name=w${i}`, {
        Cmd: ['busybox', 'httpd', '-f', '-p', '80', '-h', '/etc'],
        HostConfig: { NetworkMode: 'mbrace' },
        NetworkingConfig: { EndpointsConfig: { mbrace: { IPAMConfig: { IPv4Address: ip } } } },
      });
      if (c.status >= 300) throw new Error(`create: ${c.status} ${c.text}`);
      const s = await lab.api('POST', `/containers/${c.json<{ Id: string }>().Id}/start`);
      if (s.status >= 300) throw new Error(`start: ${s.status} ${s.text}`);
      const tRet = now();
      const a = await answer;
      if (a['error']) throw new Error(String(a['error']));
      ms.push(Math.round((a['tReach'] as number) - tRet));
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await p.stop();
  }
  const late = ms.filter((x) => x > 500).length;
  console.log(`start returned -> client's handshake answered, ms (${neigh ? 'client knows the MAC' : 'client ARPs itself'}${berthdArgs.length ? `, berthd ${berthdArgs.join(' ')}` : ''}):`);
  console.log(`  ${ms.join(' ')}`);
  console.log(`  p50 ${percentile(ms, 50)} ms, max ${Math.max(...ms)} ms; ${late} of ${ms.length} later than 500 ms`);
});
