// Planner cost of one sandbox starting or going with N already on one network, each publishing one
// port (not a test: prints timings): what berthd computes at every change besides the kernel work.
// The firewall: in full (firewallView + elementsOf + deltaOfElements against the applied elements)
// and as berthd does it (FirewallViewBuilder + ElementsBuilder: only the changed sandbox); the DNS
// view: rebuilt whole (dnsView) and made by the DnsViewBuilder berthd keeps.
//   npm run build && node dist/bench/plan/sandbox-plan-profile.js 10 100 1000
import { performance } from 'node:perf_hooks';
import { firewallView, FirewallViewBuilder } from '../../src/plan/firewall-view.js';
import { ElementsBuilder } from '../../src/plan/nft-elements-builder.js';
import { deltaOfElements, elementsOf } from '../../src/plan/nft-ruleset.js';
import { dnsView, DnsViewBuilder } from '../../src/plan/dns-view.js';
import type { SandboxRecord } from '../../src/model/types.js';
import { ANY_IPV4, parseIpv4 } from '../../src/model/net-values.js';
import { network, sandbox, stateOf } from '../../test/unit/fw-fixture.js';

const ROUNDS = 30;
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!.toFixed(2);
for (const n of process.argv.slice(2).map(Number).filter((x) => x > 0).concat(process.argv.length > 2 ? [] : [10, 100, 1000])) {
  const net = network('bn-net', 'br-bn', '10.91.0.0/16');
  const all: SandboxRecord[] = [];
  for (let i = 1; i <= n + 1; i++) {
    all.push(sandbox(`s${i}`, [{ net, ip: parseIpv4(`10.91.${(i + 1) >> 8}.${(i + 1) & 255}`) }], {}, [{ hostIp: ANY_IPV4, hostPort: 10000 + i, proto: 'tcp', containerPort: 80 }]));
  }
  const without = stateOf([net], all.slice(0, n));
  const withOne = stateOf([net], all);
  let applied = elementsOf(firewallView(without));
  const fw: number[] = [];
  const fwInc: number[] = [];
  const fwViews = new FirewallViewBuilder();
  const fwEls = new ElementsBuilder();
  const v0 = fwViews.view(without);
  fwEls.reset(v0, elementsOf(v0));
  const dns: number[] = [];
  const inc: number[] = [];
  const views = new DnsViewBuilder();
  views.view(without);
  for (let k = 0; k < ROUNDS; k++) {
    const st = k % 2 === 0 ? withOne : without; // sandbox N+1 starts, then goes
    let t = performance.now();
    const els = elementsOf(firewallView(st));
    if (deltaOfElements(applied, els) === '') throw new Error('a change planned no delta');
    applied = els;
    fw.push(performance.now() - t);
    t = performance.now();
    const r = fwEls.plan(fwViews.view(st)).next();
    if (!r.done || r.value.full || r.value.delta === '') throw new Error('the firewall builders planned a change in full, or no delta');
    fwEls.commit();
    fwInc.push(performance.now() - t);
    t = performance.now();
    dnsView(st);
    dns.push(performance.now() - t);
    t = performance.now();
    views.view(st);
    inc.push(performance.now() - t);
    if (views.lastApplied !== 1) throw new Error(`the DNS view re-applied ${views.lastApplied} sandboxes for one change`);
  }
  console.log(`${n} sandboxes, median of ${ROUNDS} changes (ms): firewall view + elements + delta ${med(fw)} in full, ${med(fwInc)} by the builders; dnsView (whole) ${med(dns)}, DnsViewBuilder (incremental) ${med(inc)}`);
}
