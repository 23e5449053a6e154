// A DnsViewBuilder (what berthd and its DNS workers keep) answers exactly as a view built from
// scratch (dnsView) after any sequence of changes, including records edited in place (connect,
// disconnect, rename, aliases), sandboxes sharing an address, and network changes; and a view
// already handed out does not change when the builder moves on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dnsView, DnsViewBuilder, ipv4ToPtr, QTYPE, type DnsView } from '../../src/plan/dns-view.js';
import { shortId } from '../../src/model/ids.js';
import type { DomainName, EndpointRecord, IfName, Ipv4 } from '../../src/model/types.js';
import { fixture, fixtures } from './brands.js';
import { StateBuilder, hexId, net } from './dns-fixture.js';

const NETS = [
  { name: 'na', subnet: '172.30.0.0/24', gateway: '172.30.0.1' },
  { name: 'nb.dotted', subnet: '172.31.0.0/24', gateway: '172.31.0.1' },
  { name: 'priv', subnet: '172.32.0.0/24', gateway: '172.32.0.1', internal: true },
  { name: 'nodns', subnet: '172.33.0.0/24', gateway: '172.33.0.1', dns: false },
];
const NAMES = ['a', 'b', 'Web', 'c.d', 'e', 'f'];
const ALIASES = ['web', 'db', 'a', 'Alias-X', ''];
const EP_LINKS = ['a', 'b:lk', 'web:b', 'nobody:z'];
const HOSTS = [2, 3, 4];
const ipOf = (n: number, h: number): string => NETS[n]!.subnet.replace(/0\/24$/, String(h));

const endpoint = fc.record({ net: fc.integer({ min: 0, max: NETS.length - 1 }), host: fc.constantFrom(...HOSTS), aliases: fc.subarray(ALIASES), links: fc.subarray(EP_LINKS), noIp: fc.boolean() });
const op = fc.oneof(
  fc.record({ t: fc.constant('add' as const), name: fc.constantFrom(...NAMES), eps: fc.array(endpoint, { maxLength: 3 }), hostname: fc.constantFrom('', 'hostx', 'Web'), ndots: fc.boolean(), dns: fc.boolean(), link: fc.option(fc.constantFrom(...NAMES)) }),
  fc.record({ t: fc.constant('rm' as const), name: fc.constantFrom(...NAMES) }),
  fc.record({ t: fc.constant('rename' as const), name: fc.constantFrom(...NAMES), to: fc.constantFrom(...NAMES) }),
  fc.record({ t: fc.constant('connect' as const), name: fc.constantFrom(...NAMES), ep: endpoint }),
  fc.record({ t: fc.constant('disconnect' as const), name: fc.constantFrom(...NAMES), net: fc.integer({ min: 0, max: NETS.length - 1 }) }),
  fc.record({ t: fc.constant('alias' as const), name: fc.constantFrom(...NAMES), alias: fc.constantFrom(...ALIASES) }),
  fc.record({ t: fc.constant('net' as const), net: fc.integer({ min: 0, max: NETS.length - 1 }), internal: fc.boolean(), dns: fc.boolean() }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;
type EpSpec = typeof endpoint extends fc.Arbitrary<infer T> ? T : never;

function world(): StateBuilder {
  const b = new StateBuilder();
  for (const n of NETS) b.network(net(n.name, n));
  return b;
}

function find(b: StateBuilder, name: string) {
  return Object.values(b.state.sandboxes).find((s) => s.name === name);
}

function epRecord(b: StateBuilder, e: EpSpec, i: number): EndpointRecord {
  const id = b.netId(NETS[e.net]!.name);
  return {
    id: hexId(`ep-${i}-${e.net}`),
    networkId: id,
    ifName: fixture<IfName>(`eth${i}`),
    ip: e.noIp ? undefined : fixture<Ipv4>(ipOf(e.net, e.host)),
    staticIp: false,
    aliases: fixtures<DomainName>(e.aliases),
    links: [...e.links],
  } as EndpointRecord;
}

function apply(b: StateBuilder, o: Op): void {
  const sb = 'name' in o ? find(b, o.name) : undefined;
  switch (o.t) {
    case 'add': {
      if (sb) return;
      const target = o.link ? find(b, o.link) : undefined;
      b.sandbox({ name: o.name, hostname: o.hostname || undefined, dnsOptions: o.ndots ? ['ndots:2'] : [], dns: o.dns ? ['10.0.0.9'] : [], ...(target ? { links: [{ target: target.name, alias: 'lnk' }] } : {}) });
      const s = find(b, o.name)!;
      o.eps.forEach((e, i) => (s.endpoints[b.netId(NETS[e.net]!.name)] = epRecord(b, e, i)));
      return;
    }
    case 'rm':
      if (sb) delete b.state.sandboxes[sb.id];
      return;
    case 'rename':
      if (sb && !find(b, o.to)) sb.name = fixture<DomainName>(o.to); // in place
      return;
    case 'connect':
      if (sb) sb.endpoints[b.netId(NETS[o.ep.net]!.name)] = epRecord(b, o.ep, Object.keys(sb.endpoints).length);
      return;
    case 'disconnect':
      if (sb) delete sb.endpoints[b.netId(NETS[o.net]!.name)];
      return;
    case 'alias': {
      const ep = sb && Object.values(sb.endpoints)[0];
      if (ep) ep.aliases.push(fixture<DomainName>(o.alias)); // in place
      return;
    }
    case 'net': {
      const id = b.netId(NETS[o.net]!.name);
      b.state.networks[id] = { ...b.state.networks[id]!, internal: o.internal, dns: o.dns };
      return;
    }
  }
}

/** Every answer a view gives to the questions this world can ask, in one fixed order. */
/**
 * Every answer of the view to a fixed set of questions. `anyOrder`: the records of a name with
 * several addresses are sorted — their order is the rotation's (which a DNS worker never serves:
 * it hands such queries to berthd), and follows the order in which the view's index met them.
 */
function answers(v: DnsView, anyOrder = false): string {
  const listens = [...NETS.map((n) => n.gateway), '10.255.0.1'];
  const askers = [...NETS.flatMap((_, n) => HOSTS.map((h) => ipOf(n, h))), '127.0.0.1', '172.30.0.1', '10.1.2.3'];
  const labels = [...new Set([...NAMES, ...ALIASES.filter(Boolean), 'lk', 'lnk', 'z', 'hostx', ...NAMES.map((n) => shortId(hexId('sb-' + n)))])];
  const qnames = [...labels, ...labels.slice(0, 6).flatMap((l) => NETS.map((n) => `${l}.${n.name}`)), 'example.com', 'single'];
  const out: unknown[] = [v.addresses];
  for (const listen of listens) {
    for (const asker of askers) {
      for (const q of qnames) {
        const d = v.answer(listen, asker, q, QTYPE.A);
        out.push(anyOrder && d.kind === 'local' && d.records.length > 1 ? { ...d, records: [...d.records].sort((x, y) => x.data.localeCompare(y.data)) } : d);
      }
      out.push(v.answer(listen, asker, 'single', QTYPE.AAAA));
      for (const n of NETS.keys()) for (const h of HOSTS) out.push(v.answer(listen, asker, ipv4ToPtr(ipOf(n, h)), QTYPE.PTR));
    }
  }
  return JSON.stringify(out);
}

test('an incremental DNS view answers as a full rebuild after every change, and earlier views stay as they were; lastChanged names every sandbox a copy must take again', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => {
      const b = world();
      const builder = new DnsViewBuilder();
      // A DNS worker's copy of the state (udp-workers.ts): only the records lastChanged names are copied again.
      const worker = new DnsViewBuilder();
      let copy = structuredClone(b.state);
      let before: { inc: DnsView; full: DnsView } | undefined;
      for (const o of ops) {
        apply(b, o);
        const inc = builder.view(b.state);
        const full = dnsView(b.state);
        assert.equal(answers(inc), answers(full), `after ${JSON.stringify(o)}`);
        const changed = builder.lastChanged;
        if (!changed) copy = structuredClone(b.state);
        else {
          copy = { ...structuredClone({ ...b.state, sandboxes: {} }), sandboxes: copy.sandboxes };
          for (const id of changed) {
            const rec = b.state.sandboxes[id];
            if (rec) copy.sandboxes[id] = structuredClone(rec);
            else delete copy.sandboxes[id];
          }
        }
        // The worker's copy answers the same, names in rotation aside (their order, see answers()).
        assert.equal(answers(worker.view(copy), true), answers(dnsView(b.state), true), `a copy kept up to date with lastChanged, after ${JSON.stringify(o)}`);
        if (before) assert.equal(answers(before.inc), answers(before.full), 'a view already handed out changed');
        before = { inc, full };
      }
    }),
    {
      numRuns: 60,
      examples: [
        // A name and another sandbox's alias equal to it: two addresses in rotation (found by a CI run).
        [
          [
            { t: 'add', name: 'Web', eps: [{ net: 1, host: 2, aliases: [], links: [], noIp: false }], hostname: '', ndots: false, dns: false, link: null },
            { t: 'add', name: 'a', eps: [{ net: 1, host: 3, aliases: ['web'], links: [], noIp: false }], hostname: '', ndots: false, dns: false, link: null },
          ],
        ],
        // --link text resolved against sandboxes that come, are renamed and go after the linker.
        [
          [
            { t: 'add', name: 'a', eps: [{ net: 0, host: 2, aliases: [], links: ['b:lk', 'Web'], noIp: false }], hostname: '', ndots: false, dns: false, link: null },
            { t: 'add', name: 'b', eps: [{ net: 0, host: 3, aliases: [], links: [], noIp: false }], hostname: '', ndots: false, dns: false, link: null },
            { t: 'rename', name: 'b', to: 'e' },
            { t: 'rename', name: 'e', to: 'b' },
            { t: 'rm', name: 'b' },
          ],
        ],
      ],
    },
  );
});

test('an unchanged state re-applies no sandbox; one change re-applies one', () => {
  const b = world();
  for (const n of NAMES) apply(b, { t: 'add', name: n, eps: [{ net: 0, host: 2, aliases: [], links: [], noIp: false }], hostname: '', ndots: false, dns: false, link: null });
  const builder = new DnsViewBuilder();
  builder.view(b.state);
  assert.equal(builder.lastApplied, NAMES.length);
  builder.view(b.state);
  assert.equal(builder.lastApplied, 0);
  apply(b, { t: 'alias', name: 'b', alias: 'db' });
  builder.view(b.state);
  assert.equal(builder.lastApplied, 1);
});
