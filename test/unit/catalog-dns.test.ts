import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { ConsulZone } from '../../src/catalog/dns-zone.js';
import { catalogView, type NodeInfo } from '../../src/catalog/view.js';
import { localResponse, parseQuery, RCODE } from '../../src/dns/wire.js';
import type { BerthState } from '../../src/model/types.js';
import { encodeQuery } from './dns-helpers.js';

const NODE: NodeInfo = { id: 'x', name: 'H1', address: '192.0.2.1', datacenter: 'dc1' };

function zone(): ConsulZone {
  const svc = (id: string, address: string, port: number, tags: string[], status?: 'passing' | 'critical') => ({
    id, name: 'web', tags, address, port, meta: {}, weights: { passing: 10, warning: 1 }, enableTagOverride: false, registered: '',
    checks: status ? [{ id: `service:${id}`, name: 'c', kind: 'tcp' as const, target: 'x:1', method: 'GET', intervalMs: 1000, timeoutMs: 1000, deregisterAfterMs: 0, initialStatus: status, notes: '' }] : [],
  });
  const state: BerthState = {
    version: 1, networks: {}, sandboxes: {},
    catalog: { services: { a: svc('a', '10.0.0.2', 8080, ['primary']), b: svc('b', '', 8081, []), c: svc('c', '10.0.0.4', 8080, [], 'critical') }, checks: {} },
  };
  return new ConsulZone(catalogView(state, NODE));
}

test('consul zone: A for healthy instances, tag filter, SRV with targets and their A records', () => {
  const z = zone();
  const a = z.answer('web.service.consul', 1)!;
  assert.deepEqual(a.records.map((r) => r.data).sort(), ['10.0.0.2', '192.0.2.1'], 'critical c is left out; b uses the node address');
  assert.deepEqual(z.answer('web.service.dc1.consul', 1)!.records.length, 2);
  assert.deepEqual(z.answer('primary.web.service.consul', 1)!.records.map((r) => r.data), ['10.0.0.2']);
  const srv = z.answer('_web._tcp.service.consul', 33)!;
  const srvData = srv.records.map((r) => [r.type, r.port, r.data]).sort();
  assert.deepEqual(srvData, [
    ['SRV', 8080, '0a000002.addr.dc1.consul'],
    ['SRV', 8081, 'H1.node.dc1.consul'],
  ]);
  assert.deepEqual(srv.additional.map((r) => [r.name, r.data]).sort(), [['0a000002.addr.dc1.consul', '10.0.0.2'], ['H1.node.dc1.consul', '192.0.2.1']]);
  assert.equal(z.answer('_web._primary.service.consul', 33)!.records.length, 1);
  assert.equal(z.answer('web.service.consul', 33)!.records.length, 2, 'SRV on the plain name too');
  assert.deepEqual(z.answer('h1.node.consul', 1)!.records.map((r) => r.data), ['192.0.2.1']);
  assert.deepEqual(z.answer('0a000004.addr.dc1.consul', 1)!.records.map((r) => r.data), ['10.0.0.4']);
  assert.equal(z.answer('nope.service.consul', 1)!.rcode, 'NXDOMAIN');
  assert.equal(z.answer('web.service.dc2.consul', 1)!.rcode, 'NXDOMAIN');
  assert.deepEqual(z.answer('web.service.consul', 28), { rcode: 'NOERROR', records: [], additional: [] }, 'AAAA: no data');
  assert.equal(z.answer('example.com', 1), undefined, 'not the zone: not answered here');
});

test('wire: SRV answers with additional A records decode; additionals are dropped before truncating', () => {
  const z = zone();
  const srv = z.answer('_web._tcp.service.consul', 33)!;
  const raw = encodeQuery('_web._tcp.service.consul', { type: 'SRV', edns: 1232 });
  const p = parseQuery(raw);
  assert.ok(p.ok);
  const d = dnsPacket.decode(localResponse(raw, p.query, RCODE.NOERROR, srv.records, 1232, srv.additional));
  const answers = (d.answers ?? []) as Array<{ type: string; name: string; data: { port: number; target: string } }>;
  assert.deepEqual(answers.map((x) => [x.type, x.name, x.data.port, x.data.target]).sort(), [
    ['SRV', '_web._tcp.service.consul', 8080, '0a000002.addr.dc1.consul'],
    ['SRV', '_web._tcp.service.consul', 8081, 'H1.node.dc1.consul'],
  ]);
  const extra = (d.additionals ?? []).filter((x) => x.type === 'A') as Array<{ name: string; data: string }>;
  assert.deepEqual(extra.map((x) => [x.name, x.data]).sort(), [['0a000002.addr.dc1.consul', '10.0.0.2'], ['H1.node.dc1.consul', '192.0.2.1']]);
  // A limit the answers fit but not the additionals: answers kept, no TC.
  const small = dnsPacket.decode(localResponse(raw, p.query, RCODE.NOERROR, srv.records, 160, srv.additional));
  assert.equal(small.flag_tc, false);
  assert.equal(small.answers?.length, 2);
  assert.equal((small.additionals ?? []).filter((x) => x.type === 'A').length, 0);
});
