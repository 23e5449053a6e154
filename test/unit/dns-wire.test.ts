import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { encodeName, errorResponse, localResponse, parseQuery, RCODE, sameQuestion, udpLimit } from '../../src/dns/wire.js';
import { Forwarder } from '../../src/dns/forwarder.js';
import { encodeQuery } from './dns-helpers.js';

test('parseQuery: a plain query, EDNS, odd names', () => {
  const p = parseQuery(encodeQuery('Web.My-Net', { id: 77, edns: 4096 }));
  assert.ok(p.ok);
  assert.equal(p.query.id, 77);
  assert.equal(p.query.qname, 'Web.My-Net');
  assert.equal(p.query.qtype, 1);
  assert.equal(p.query.plainName, true);
  assert.deepEqual(p.query.edns, { udpSize: 4096, version: 0 });
  assert.equal(udpLimit(p.query.edns), 4096);
  assert.equal(udpLimit({ udpSize: 65000, version: 0 }), 4096);
  assert.equal(udpLimit({ udpSize: 100, version: 0 }), 512);
  assert.equal(udpLimit(undefined), 512);
  // a label with a dot inside it, or a space: never local
  const raw = Buffer.concat([Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([3, 0x61, 0x2e, 0x62, 0]), Buffer.from([0, 1, 0, 1])]);
  const odd = parseQuery(raw);
  assert.ok(odd.ok && odd.query.plainName === false);
  // root name
  const root = parseQuery(encodeQuery('.', { type: 'NS' }));
  assert.ok(root.ok && root.query.qname === '');
});

test('parseQuery: error classes', () => {
  const q = encodeQuery('x');
  const bad = (b: Buffer) => {
    const r = parseQuery(b);
    return r.ok ? 'ok' : 'drop' in r ? 'drop' : r.badvers ? 'BADVERS' : r.rcode;
  };
  assert.equal(bad(Buffer.alloc(11)), 'drop');
  const withAn = Buffer.from(q);
  withAn.writeUInt16BE(1, 6);
  assert.equal(bad(withAn), RCODE.FORMERR);
  const twoOpt = dnsPacket.encode({
    type: 'query',
    id: 1,
    questions: [{ name: 'x', type: 'A' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 512 } as never, { type: 'OPT', name: '.', udpPayloadSize: 512 } as never],
  });
  assert.equal(bad(twoOpt), RCODE.FORMERR);
  const arPastEnd = Buffer.from(q);
  arPastEnd.writeUInt16BE(3, 10);
  assert.equal(bad(arPastEnd), RCODE.FORMERR);
  assert.equal(bad(encodeQuery('x', { type: 'OPT' })), RCODE.FORMERR);
  assert.equal(bad(encodeQuery('x', { type: 'IXFR' })), RCODE.NOTIMP);
  const long = Buffer.concat([q.subarray(0, 12), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([0, 0, 1, 0, 1])]);
  assert.equal(bad(long), RCODE.FORMERR);
});

test('responses decode with dns-packet; errors echo the question; TC when too big', () => {
  const raw = encodeQuery('B1', { id: 5, edns: 1232 });
  const p = parseQuery(raw);
  assert.ok(p.ok);
  const resp = dnsPacket.decode(localResponse(raw, p.query, RCODE.NOERROR, [{ type: 'A', data: '10.0.0.1', ttl: 0 }, { type: 'PTR', data: 'b1.net', ttl: 0 }], 512));
  assert.equal(resp.id, 5);
  assert.equal(resp.answers?.length, 2);
  assert.equal(resp.answers?.[0]?.name, 'B1');
  assert.equal((resp.answers?.[1] as { data: string }).data, 'b1.net');
  assert.equal(resp.additionals?.[0]?.type, 'OPT');
  const many = Array.from({ length: 40 }, (_, i) => ({ type: 'A' as const, data: `10.0.0.${i}`, ttl: 0 }));
  const tc = dnsPacket.decode(localResponse(raw, p.query, RCODE.NOERROR, many, 512));
  assert.equal(tc.flag_tc, true);
  assert.equal(tc.answers?.length, 0);
  const err = dnsPacket.decode(errorResponse(raw, RCODE.REFUSED, p.query.questionEnd));
  assert.equal((err as { rcode?: string }).rcode, 'REFUSED');
  assert.equal(err.questions?.[0]?.name, 'B1');
  assert.equal(encodeName('a'.repeat(64)), undefined);
  assert.equal(encodeName(('a'.repeat(60) + '.').repeat(5)), undefined);
  assert.deepEqual(encodeName('ab.c'), Buffer.from([2, 0x61, 0x62, 1, 0x63, 0]));
});

test('sameQuestion ignores letter case of the name only', () => {
  const a = encodeQuery('Web.example', { id: 1 });
  const b = encodeQuery('wEB.EXAMPLE', { id: 2 });
  const p = parseQuery(a);
  assert.ok(p.ok);
  const resp = Buffer.from(b);
  resp.writeUInt16BE(0x8180, 2);
  assert.equal(sameQuestion(a, p.query.questionEnd, resp), true);
  assert.equal(sameQuestion(a, p.query.questionEnd, encodeQuery('web.example', { type: 'AAAA' })), false);
  assert.equal(sameQuestion(a, p.query.questionEnd, encodeQuery('wex.example')), false);
});

test('forwarder: order keeps recently dead upstreams last, then forgives them', () => {
  const f = new Forwarder({ deadForMs: 1000 });
  const a = { host: '192.0.2.1', port: 53 };
  const b = { host: '192.0.2.2', port: 53 };
  (f as unknown as { deadSince: Map<string, number> }).deadSince.set('192.0.2.1:53', 10_000);
  assert.deepEqual(f.order([a, b], 10_500), [b, a]);
  assert.deepEqual(f.order([a, b], 11_500), [a, b]);
});

test('forwarder: no upstreams fails at once', async () => {
  const f = new Forwarder();
  const r = await f.forward(encodeQuery('x'), 17, [], 'udp');
  assert.deepEqual(r, { ok: false, why: 'no upstream resolvers configured' });
});
