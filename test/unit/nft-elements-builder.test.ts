// ElementsBuilder (what berthd's firewall keeps) plans exactly the elements of the full planner
// (elementsOf) after any sequence of changes, and its delta, applied to the elements nft holds,
// leads to them, never deleting an element that is not there nor adding one that is: including
// sandboxes sharing an element with another (same address, same host port, a VIP's hairpin),
// comments that need sanitizing, changes of networks, links and services, and refused changes
// (planned, never committed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FirewallView, FwPublished } from '../../src/plan/firewall-view.js';
import { ElementsBuilder } from '../../src/plan/nft-elements-builder.js';
import { elementsOf, FAMILY, SETS, TABLE, type Elements } from '../../src/plan/nft-ruleset.js';
import type { Ipv4, IfName, Cidr } from '../../src/model/types.js';
import { fixture } from './brands.js';

const NAMES = ['a', 'b', 'c', 'd', 'e', `long-${'x'.repeat(110)}`];
const port = fc.record({ hostPort: fc.constantFrom(8080, 8081, 8082, 8083, 9000), proto: fc.constantFrom('tcp' as const, 'udp' as const), targetPort: fc.constantFrom(80, 53), local: fc.boolean() });
const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('put' as const), name: fc.constantFrom(...NAMES), host: fc.integer({ min: 2, max: 9 }), ports: fc.array(port, { minLength: 1, maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('rm' as const), name: fc.constantFrom(...NAMES) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('icc' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('vip' as const), host: fc.option(fc.integer({ min: 2, max: 6 })) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('refused' as const), name: fc.constantFrom(...NAMES), host: fc.integer({ min: 2, max: 6 }) }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;
type Change = Exclude<Op, { t: 'refused' | 'put' }> | { t: 'put'; name: string; host: number; ports: Port[] };
type Port = { hostPort: number; proto: 'tcp' | 'udp'; targetPort: number; local: boolean };

interface World {
  sandboxes: Map<string, { host: number; ports: Port[] }>;
  icc: boolean;
  vipHost: number | null;
}

const ip = (h: number): Ipv4 => fixture<Ipv4>(`10.88.0.${h}`);

function viewOf(w: World): FirewallView {
  const published: FwPublished[] = [];
  for (const name of [...w.sandboxes.keys()].sort()) {
    const sb = w.sandboxes.get(name)!;
    for (const p of sb.ports) {
      published.push({ hostIp: fixture<Ipv4>(p.local ? '127.0.0.1' : '0.0.0.0'), hostPort: p.hostPort, proto: p.proto, targetIp: ip(sb.host), targetPort: p.targetPort, sandbox: name });
    }
  }
  return {
    bridges: [{ name: fixture<IfName>('br-pg'), network: 'pgnet', subnet: fixture<Cidr>('10.88.0.0/24'), icc: w.icc, internal: false, masquerade: true }],
    published,
    links: [],
    hostServices: [],
    vips: w.vipHost === null ? [] : [{ service: 'svc', network: 'pgnet', vip: fixture<Ipv4>('10.88.0.200'), slots: [ip(w.vipHost)] }],
    servicePorts: [],
    warnings: [],
  };
}

type Canon = Map<string, Map<string, string>>;

function canon(els: Elements): Canon {
  return new Map([...els].map(([set, m]) => [set, new Map([...m].map(([k, e]) => [k, `${e.value ?? ''}|${e.comment}`]))]));
}

/** Applies nft text of element lines to `held` as nft would, failing where nft would refuse. */
function applyDelta(held: Canon, delta: string): void {
  const prefix = (verb: string) => new RegExp(`^${verb} element ${FAMILY} ${TABLE} (\\S+) \\{ (.*) \\}$`);
  for (const line of delta.split('\n').filter((l) => l !== '')) {
    const del = prefix('delete').exec(line);
    const add = prefix('add').exec(line);
    const m = del ?? add;
    assert.ok(m, `not an element line: ${line}`);
    const set = held.get(m[1]!);
    assert.ok(set, `no set ${m[1]}`);
    if (del) {
      for (const key of m[2]!.split(', ')) {
        assert.ok(set.has(key), `delete of ${key} in ${m[1]}, which does not hold it`);
        set.delete(key);
      }
      continue;
    }
    // KEY comment "COMMENT"[ : VALUE], ...: keys and values hold no comma, comments no quote.
    let rest = m[2]!;
    while (rest !== '') {
      const c = rest.indexOf(' comment "');
      assert.ok(c > 0, `unparsed element text: ${rest}`);
      const key = rest.slice(0, c);
      const end = rest.indexOf('"', c + 10);
      const comment = rest.slice(c + 10, end);
      rest = rest.slice(end + 1);
      let value = '';
      if (rest.startsWith(' : ')) {
        const next = rest.indexOf(', ');
        value = rest.slice(3, next < 0 ? undefined : next);
        rest = next < 0 ? '' : rest.slice(next);
      }
      if (rest.startsWith(', ')) rest = rest.slice(2);
      assert.ok(!set.has(key), `add of ${key} in ${m[1]}, which holds it already`);
      set.set(key, `${value}|${comment}`);
    }
  }
}

function step(w: World, o: Change): World {
  const sandboxes = new Map(w.sandboxes);
  if (o.t === 'put') sandboxes.set(o.name, { host: o.host, ports: o.ports });
  if (o.t === 'rm') sandboxes.delete(o.name);
  return { sandboxes, icc: o.t === 'icc' ? o.on : w.icc, vipHost: o.t === 'vip' ? o.host : w.vipHost };
}

test('ElementsBuilder: every plan holds the full planner\'s elements, and its delta leads there from what nft holds', () => {
  let quick = 0;
  let plans = 0;
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => {
      let w: World = { sandboxes: new Map([['a', { host: 2, ports: [{ hostPort: 8080, proto: 'tcp', targetPort: 80, local: false }] }]]), icc: true, vipHost: null };
      const b = new ElementsBuilder();
      const first = viewOf(w);
      b.reset(first, elementsOf(first));
      let held = canon(elementsOf(first));
      for (const o of ops) {
        if (o.t === 'refused') {
          // Planned, the kernel refuses it, never committed: the next plan starts from what nft holds.
          const tried = step(w, { t: 'put', name: o.name, host: o.host, ports: [{ hostPort: 9000, proto: 'udp', targetPort: 53, local: true }] });
          [...b.plan(viewOf(tried))];
          assert.deepEqual(canon(b.applied!), held);
          continue;
        }
        w = step(w, o);
        const view = viewOf(w);
        const steps = b.plan(view);
        let r = steps.next();
        while (!r.done) r = steps.next();
        const plan = r.value;
        plans++;
        if (!plan.full) quick++;
        const want = canon(elementsOf(view, { cache: false }));
        applyDelta(held, plan.delta);
        assert.deepEqual(held, want);
        b.commit();
        assert.deepEqual(canon(b.applied!), want);
      }
    }),
    { numRuns: 300 },
  );
  // The property is about the incremental path: a good part of the plans must have taken it (the
  // others share an element on purpose, have a long name, or change the network or the VIP).
  assert.ok(quick > plans / 3, `only ${quick} of ${plans} plans were incremental`);
});

test('ElementsBuilder: one sandbox more among 200 plans its elements only, and deletes them when it goes', () => {
  const w: World = { sandboxes: new Map(), icc: true, vipHost: null };
  for (let i = 0; i < 200; i++) w.sandboxes.set(`s${String(i).padStart(3, '0')}`, { host: 2 + (i % 200), ports: [{ hostPort: 10000 + i, proto: 'tcp', targetPort: 80, local: false }] });
  const v0 = viewOf(w);
  const b = new ElementsBuilder();
  b.reset(v0, elementsOf(v0));
  const more = step(w, { t: 'put', name: 'zz', host: 250, ports: [{ hostPort: 20000, proto: 'tcp', targetPort: 80, local: false }] });
  const r = b.plan(viewOf(more)).next();
  assert.ok(r.done);
  assert.equal(r.value.full, false);
  assert.equal(
    r.value.delta,
    [
      `add element ${FAMILY} ${TABLE} published-any { tcp . 20000 comment "zz: 0.0.0.0:20000/tcp -> 80" : 10.88.0.250 . 80 }`,
      `add element ${FAMILY} ${TABLE} published-targets { 10.88.0.250 . tcp . 80 comment "zz: 80/tcp" }`,
      `add element ${FAMILY} ${TABLE} hairpin { 10.88.0.250 . 10.88.0.250 comment "zz" }`,
      '',
    ].join('\n'),
  );
  b.commit();
  const back = b.plan(v0).next();
  assert.ok(back.done);
  assert.equal(back.value.full, false);
  assert.match(back.value.delta, /^delete element inet berth published-any \{ tcp \. 20000 \}$/m);
  assert.equal(back.value.delta.split('\n').filter((l) => l).length, 3);
  assert.ok(SETS.some((s) => s.name === 'published-any'));
});
