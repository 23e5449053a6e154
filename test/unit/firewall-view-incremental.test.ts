// A FirewallViewBuilder (what berthd's firewall follower keeps) makes exactly firewallView's view
// after any sequence of changes to one state object, including records edited in place (connect,
// disconnect, new ports, new address, rename), sandboxes losing their endpoints (stopped), legacy links with
// ICC off, internal networks (published ports ignored, with a warning) and network edits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { firewallView, FirewallViewBuilder } from '../../src/plan/firewall-view.js';
import type { DomainName, EndpointRecord, IfName, Ipv4, SandboxRecord } from '../../src/model/types.js';
import { fixture } from './brands.js';
import { bind, network, sandbox, stateOf } from './fw-fixture.js';

const NETS = [network('bridge', 'berth0', '172.17.0.0/16', { icc: false }), network('user', 'br-pgu', '10.77.0.0/24'), network('priv', 'br-pgp', '10.78.0.0/24', { internal: true })];
const NAMES = ['a', 'b', 'c', 'd', 'e'];
const ipOn = (net: number, host: number): string => (net === 0 ? `172.17.0.${host}` : net === 1 ? `10.77.0.${host}` : `10.78.0.${host}`);

const op = fc.oneof(
  fc.record({ t: fc.constant('add' as const), name: fc.constantFrom(...NAMES), nets: fc.subarray([0, 1, 2], { minLength: 0 }), host: fc.integer({ min: 2, max: 9 }), ports: fc.array(fc.integer({ min: 8000, max: 8003 }), { maxLength: 2 }), link: fc.option(fc.constantFrom(...NAMES), { freq: 4 }) }),
  fc.record({ t: fc.constant('add' as const), name: fc.constantFrom(...NAMES), nets: fc.constant([0]), host: fc.integer({ min: 2, max: 9 }), ports: fc.constant([]), link: fc.constantFrom(...NAMES) }),
  fc.record({ t: fc.constant('rm' as const), name: fc.constantFrom(...NAMES) }),
  fc.record({ t: fc.constant('stop' as const), name: fc.constantFrom(...NAMES) }),
  fc.record({ t: fc.constant('rename' as const), name: fc.constantFrom(...NAMES), to: fc.constantFrom(...NAMES) }),
  fc.record({ t: fc.constant('connect' as const), name: fc.constantFrom(...NAMES), net: fc.integer({ min: 0, max: 2 }), host: fc.integer({ min: 2, max: 9 }) }),
  fc.record({ t: fc.constant('disconnect' as const), name: fc.constantFrom(...NAMES), net: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ t: fc.constant('port' as const), name: fc.constantFrom(...NAMES), port: fc.integer({ min: 8000, max: 8003 }) }),
  fc.record({ t: fc.constant('readdr' as const), name: fc.constantFrom(...NAMES), host: fc.integer({ min: 2, max: 9 }) }),
  fc.record({ t: fc.constant('net' as const), net: fc.integer({ min: 0, max: 2 }), internal: fc.boolean() }),
);

test('FirewallViewBuilder: every view equals firewallView of the same state, after changes in place', () => {
  const seen = { published: 0, links: 0, warnings: 0 };
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), (ops) => {
      const nets = NETS.map((n) => structuredClone(n));
      const state = stateOf(nets, []);
      const b = new FirewallViewBuilder();
      const find = (name: string): SandboxRecord | undefined => Object.values(state.sandboxes).find((s) => s.name === name);
      let serial = 0;
      for (const o of ops) {
        const sb = 'name' in o ? find(o.name) : undefined;
        switch (o.t) {
          case 'add': {
            if (sb) break;
            const made = sandbox(o.name, o.nets.map((n) => ({ net: nets[n]!, ip: ipOn(n, o.host) })), o.link && o.link !== o.name && find(o.link) ? { links: [{ alias: fixture<DomainName>('lk'), targetId: find(o.link)!.id, targetName: o.link }], exposedPorts: [{ port: 80, proto: 'tcp' }] } : { exposedPorts: [{ port: 443, proto: 'tcp' }] }, o.ports.map((p) => bind(p, 80)));
            made.id = `${made.id}-${serial++}` as SandboxRecord['id'];
            state.sandboxes[made.id] = made;
            break;
          }
          case 'rm':
            if (sb) delete state.sandboxes[sb.id];
            break;
          case 'stop':
            if (sb) sb.endpoints = {};
            break;
          case 'rename':
            if (sb && !find(o.to)) sb.name = fixture<DomainName>(o.to);
            break;
          case 'connect': {
            const net = nets[o.net]!;
            if (!sb || sb.endpoints[net.id]) break;
            sb.endpoints[net.id] = { id: `ep-${serial++}`, networkId: net.id, ifName: fixture<IfName>(`eth${Object.keys(sb.endpoints).length}`), hostIfName: fixture<IfName>(`bvx${serial}`), ip: fixture<Ipv4>(ipOn(o.net, o.host)), prefixLen: 24, staticIp: false, aliases: [], links: [] } as EndpointRecord;
            sb.config.networks.push({ networkId: net.id, aliases: [] });
            break;
          }
          case 'disconnect': {
            const id = nets[o.net]!.id;
            if (!sb) break;
            delete sb.endpoints[id];
            sb.config.networks = sb.config.networks.filter((n) => n.networkId !== id);
            break;
          }
          case 'readdr': {
            const ep = sb && Object.values(sb.endpoints)[0];
            if (ep) ep.ip = fixture<Ipv4>(ep.ip!.replace(/\d+$/, String(o.host)));
            break;
          }
          case 'port':
            if (sb) sb.ports.push(bind(o.port, 81));
            break;
          case 'net':
            nets[o.net]!.internal = o.internal;
            break;
        }
        const v = b.view(state);
        assert.deepEqual(v, firewallView(state));
        if (v.published.length) seen.published++;
        if (v.links.length) seen.links++;
        if (v.warnings.length) seen.warnings++;
      }
    }),
    { numRuns: 300 },
  );
  // The states generated reach what the builder keeps: published ports, links, ignored ports.
  assert.ok(seen.published > 100 && seen.links > 5 && seen.warnings > 10, JSON.stringify(seen));
});

test('FirewallViewBuilder: unchanged sandboxes keep their published entries (the same objects)', () => {
  const net = NETS[1]!;
  const state = stateOf([net], [1, 2, 3].map((i) => sandbox(`s${i}`, [{ net, ip: ipOn(1, i + 1) }], {}, [bind(9000 + i, 80)])));
  const b = new FirewallViewBuilder();
  const before = b.view(state);
  state.sandboxes['sb-s2']!.ports = [bind(9100, 80)];
  const after = b.view(state);
  assert.equal(after.published[0], before.published[0]);
  assert.equal(after.published[2], before.published[2]);
  assert.notEqual(after.published[1], before.published[1]);
  assert.equal(after.published[1]!.hostPort, 9100);
});
