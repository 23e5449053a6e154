// The response cache (dns/response-cache.ts): what it returns is byte for byte what answerQuery
// returns for the same query (the ID is the asker's own), across askers, listening addresses,
// types and EDNS; names in rotation are answered afresh each time; a new view forgets all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsView } from '../../src/plan/dns-view.js';
import { answerQuery, type AnswerCounts } from '../../src/dns/answer.js';
import { ResponseCache } from '../../src/dns/response-cache.js';
import { StateBuilder, net } from './dns-fixture.js';
import { encodeQuery } from './dns-helpers.js';

function world(): StateBuilder {
  const b = new StateBuilder();
  b.network(net('my-net', { subnet: '172.18.0.0/16', gateway: '172.18.0.1' }));
  b.sandbox({ name: 'b1', nets: [{ net: 'my-net', ip: '172.18.0.2' }] });
  b.sandbox({ name: 'b2', nets: [{ net: 'my-net', ip: '172.18.0.3', aliases: ['pair'] }] });
  b.sandbox({ name: 'b3', nets: [{ net: 'my-net', ip: '172.18.0.4', aliases: ['pair'] }] });
  return b;
}

const counts = (): AnswerCounts => ({ queries: 0, local: 0, refused: 0, malformed: 0, dropped: 0 });
const quiet = () => undefined;

test('dns response cache: the same bytes as answering afresh, with each query\'s own ID', () => {
  const b = world();
  const cached = dnsView(b.state);
  const fresh = dnsView(b.state);
  const cache = new ResponseCache();
  const c1 = counts();
  const c2 = counts();
  const asks: Array<[string, string, string, { type?: string; edns?: number }]> = [
    ['172.18.0.1', '172.18.0.3', 'b1', {}],
    ['172.18.0.1', '172.18.0.2', 'b1', {}],
    ['172.18.0.1', '172.18.0.3', 'b1', { edns: 1232 }],
    ['172.18.0.1', '172.18.0.3', 'b1', { type: 'AAAA' }],
    ['172.18.0.1', '172.18.0.3', 'nosuch.example', {}],
    ['172.18.0.1', '172.18.0.3', '2.0.18.172.in-addr.arpa', { type: 'PTR' }],
    ['172.18.0.1', '172.18.0.3', 'pair', {}],
    ['172.18.0.1', '10.9.9.9', 'b1', {}], // not a sandbox of this network
  ];
  for (let round = 0; round < 3; round++) {
    for (const [listen, asker, name, o] of asks) {
      const id = 1000 * round + name.length;
      const msg = encodeQuery(name, { ...o, id });
      const want = answerQuery(fresh, msg, listen, asker, 'udp', c2, quiet);
      const got = cache.answer(cached, msg, listen, asker, c1, quiet);
      if (Buffer.isBuffer(want)) {
        assert.ok(Buffer.isBuffer(got), `${name} from ${asker}: a response`);
        assert.equal(got.toString('hex'), want.toString('hex'), `${name} from ${asker} (round ${round})`);
        assert.equal(got.readUInt16BE(0), id);
      } else {
        assert.deepEqual(got, want, `${name} from ${asker}`);
      }
    }
  }
  assert.deepEqual(c1, c2, 'the counters move as without the cache');
  // Kept: b1 as each asker/EDNS asked it, the AAAA no-data answer and the PTR; not the forwarded
  // name, the rotated alias, nor the refusal of an asker that is no sandbox of the network.
  assert.equal(cache.size, 5);
});

test('dns response cache: a new view forgets every answer', () => {
  const b = world();
  const cache = new ResponseCache();
  const msg = encodeQuery('b1', { id: 7 });
  const first = cache.answer(dnsView(b.state), msg, '172.18.0.1', '172.18.0.3', counts(), quiet) as Buffer;
  assert.ok(first.includes(Buffer.from([172, 18, 0, 2])));
  // b1 moves to another address: the next view answers with it.
  b.state.sandboxes[b.sbId('b1')]!.endpoints[b.netId('my-net')]!.ip = '172.18.0.9' as never;
  const next = cache.answer(dnsView(b.state), msg, '172.18.0.1', '172.18.0.3', counts(), quiet) as Buffer;
  assert.ok(next.includes(Buffer.from([172, 18, 0, 9])), 'the new address');
  assert.equal(cache.size, 1);
});

test('dns response cache: bounded; when full it starts again', () => {
  const b = world();
  const v = dnsView(b.state);
  const cache = new ResponseCache(4);
  for (let i = 0; i < 10; i++) cache.answer(v, encodeQuery('b1', { id: i }), '172.18.0.1', `172.18.0.${10 + i}`, counts(), quiet);
  assert.ok(cache.size <= 4);
});
