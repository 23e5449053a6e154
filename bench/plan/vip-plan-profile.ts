// Planner cost of one change with many services defined (not a test: prints timings).
//   npm run build && node dist/bench/plan/vip-plan-profile.js [services] [replicas]
// A change is one replica leaving (or joining) rotation; it times what berthd does at each sync:
// firewallView + elementsOf + deltaOfElements against the applied elements, and dnsView.
import { performance } from 'node:perf_hooks';
import { firewallView } from '../../src/plan/firewall-view.js';
import { deltaOfElements, elementsOf } from '../../src/plan/nft-ruleset.js';
import { dnsView } from '../../src/plan/dns-view.js';
import { manyServices, withRunning } from '../../test/unit/many-services.js';

const n = Number(process.argv[2] ?? 1000);
const r = Number(process.argv[3] ?? 3);
let state = manyServices(n, r);
let applied = elementsOf(firewallView(state));
const times = { view: [] as number[], elements: [] as number[], delta: [] as number[], dns: [] as number[] };
const ROUNDS = 40;
for (let i = 0; i < ROUNDS; i++) {
  const j = i >> 1; // stop a replica, then start it again
  state = withRunning(state, `svc${(j * 37) % n}.${(j % r) + 1}`, i % 2 === 1);
  let t = performance.now();
  const view = firewallView(state);
  times.view.push(performance.now() - t);
  t = performance.now();
  const els = elementsOf(view);
  times.elements.push(performance.now() - t);
  t = performance.now();
  const delta = deltaOfElements(applied, els);
  times.delta.push(performance.now() - t);
  if (delta === '') throw new Error('a change planned no delta');
  applied = els;
  t = performance.now();
  dnsView(state);
  times.dns.push(performance.now() - t);
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const total = med(times.view) + med(times.elements) + med(times.delta);
console.log(`${n} services x ${r} replicas, median of ${ROUNDS} changes (ms): firewallView ${med(times.view).toFixed(2)}, elementsOf ${med(times.elements).toFixed(2)}, delta ${med(times.delta).toFixed(2)}, firewall total ${total.toFixed(2)}; dnsView ${med(times.dns).toFixed(2)}`);
