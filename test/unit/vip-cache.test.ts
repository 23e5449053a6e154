// The planner's group cache (nft-ruleset.ts planGroup) must not change a byte: after random
// changes to a state with many services, the cached plan equals the plan made without the cache.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { BerthState, Ipv4, SandboxRecord } from '../../src/model/types.js';
import { firewallView } from '../../src/plan/firewall-view.js';
import { deltaOfElements, elementsOf, type Elements } from '../../src/plan/nft-ruleset.js';
import { ipOf, manyServices, withRunning } from './many-services.js';
import { replica, serviceRecord } from './service-fixture.js';
import { network, sandbox } from './fw-fixture.js';

/** A seeded generator: the same changes on every run. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x % n;
  };
}

const dump = (els: Elements): string => JSON.stringify([...els].map(([set, m]) => [set, [...m.values()]]));

function change(st: BerthState, pick: (n: number) => number, step: number): BerthState {
  const names = Object.values(st.sandboxes).map((s) => s.name);
  const svcs = Object.values(st.services ?? {});
  switch (pick(5)) {
    case 0:
    case 1: // a replica stops or starts
      return withRunning(st, names[pick(names.length)]!, pick(2) === 0);
    case 2: {
      // a service goes
      const gone = svcs[pick(svcs.length)]!;
      const services = { ...st.services };
      delete services[gone.id];
      return { ...st, services };
    }
    case 3: {
      // a service comes, with a published port and replicas (one of them an address another had)
      const svc = serviceRecord(`new${step}id`, `new${step}`, { ports: [{ published: 30000 + step, target: 80, proto: 'udp' }] }, { 'net-app': ipOf(50000 + step) });
      const reps = [replica(svc, 1, ipOf(60000 + step)), replica(svc, 2, ipOf(1 + pick(30)))];
      return { ...st, services: { ...st.services, [svc.id]: svc }, sandboxes: { ...st.sandboxes, ...Object.fromEntries(reps.map((r) => [r.id, r])) } };
    }
    default: {
      // a plain sandbox publishes a port from a replica's address: its hairpin element merges with the service's
      const net = network('app', 'br-app', '10.89.0.0/24');
      const sb: SandboxRecord = sandbox(`plain${step}`, [{ net, ip: ipOf(2 + pick(30)) }], {}, [
        { hostIp: '0.0.0.0' as Ipv4, hostPort: 40000 + step, containerPort: 80, proto: 'tcp' },
      ]);
      return { ...st, sandboxes: { ...st.sandboxes, [sb.id]: sb } };
    }
  }
}

test('cached and uncached planning give the same elements, deltas and full ruleset after random changes', () => {
  const pick = rng(9);
  let st = manyServices(40, 3);
  let prevCached = elementsOf(firewallView(st));
  let prevPlain = elementsOf(firewallView(st), { cache: false });
  for (let step = 0; step < 200; step++) {
    st = change(st, pick, step);
    const view = firewallView(st);
    const cached = elementsOf(view);
    const plain = elementsOf(view, { cache: false });
    assert.equal(dump(cached), dump(plain), `elements after change ${step}`);
    assert.equal(deltaOfElements(prevCached, cached), deltaOfElements(prevPlain, plain), `delta after change ${step}`);
    // The cache was used: the VIP elements of services that did not change are the same objects.
    const before = prevCached.get('vip-backends')!;
    assert.ok([...cached.get('vip-backends')!].some(([k, e]) => before.get(k) === e), `cache used at change ${step}`);
    // Published ports too: a sandbox whose ports did not change keeps its element objects.
    const pubBefore = prevCached.get('published-any')!;
    if (pubBefore.size > 1) assert.ok([...cached.get('published-any')!].some(([k, e]) => pubBefore.get(k) === e), `published ports reused at change ${step}`);
    prevCached = cached;
    prevPlain = plain;
  }
});
