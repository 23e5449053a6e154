// The embedded DNS server over real UDP and TCP sockets on loopback (no root needed): networks
// get gateways in 127.0.0.0/8 and clients bind the "sandbox" address as their source.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { DnsServer } from '../../src/dns/server.js';
import { DnsFollower } from '../../src/dns/follower.js';
import { CHANNEL_QUERIES } from '../../src/dns/udp-channel.js';
import { dnsView, dnsAddresses } from '../../src/plan/dns-view.js';
import { parseHostServices } from '../../src/model/host-service.js';
import { StateBuilder, net } from './dns-fixture.js';
import { FakeUpstream, addrs, ask, rcode, blackhole, deadPort, encodeQuery, tcpRaw, udpRaw } from './dns-helpers.js';

const GW = '127.31.0.1'; // network "tn"
const GW2 = '127.32.0.1'; // network "tn2"
const GWI = '127.33.0.1'; // internal network "ti"
const B1 = '127.31.0.2';
const B2 = '127.31.0.3';
const DNSUSER = '127.31.0.4';
const O1 = '127.32.0.2';
const P1 = '127.33.0.2';

let upstream: FakeUpstream;
let port = 0;
let server: DnsServer;
const logs: string[] = [];

function world(extra?: (b: StateBuilder) => void): StateBuilder {
  const b = new StateBuilder();
  b.network(net('tn', { subnet: '127.31.0.0/16', gateway: GW }));
  b.network(net('tn2', { subnet: '127.32.0.0/16', gateway: GW2 }));
  b.network(net('ti', { subnet: '127.33.0.0/16', gateway: GWI, internal: true }));
  b.sandbox({ name: 'b1', nets: [{ net: 'tn', ip: B1, aliases: ['web'] }] });
  b.sandbox({ name: 'b2', nets: [{ net: 'tn', ip: B2, aliases: ['web'] }] });
  b.sandbox({ name: 'dnsuser', nets: [{ net: 'tn', ip: DNSUSER }], dns: ['127.0.0.1'] });
  b.sandbox({ name: 'o1', nets: [{ net: 'tn2', ip: O1 }] });
  b.sandbox({ name: 'p1', nets: [{ net: 'ti', ip: P1 }] });
  b.sandbox({ name: 'p2', nets: [{ net: 'ti', ip: '127.33.0.3' }] });
  extra?.(b);
  return b;
}

async function startServer(): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    port = 20000 + Math.floor(Math.random() * 30000);
    server = new DnsServer({
      port,
      log: (level, msg) => logs.push(`${level} ${msg}`),
      hostUpstreams: () => [{ host: '127.0.0.1', port: upstream.port }],
      sandboxDnsPort: upstream.port,
      forward: { attemptTimeoutMs: 300, budgetMs: 600 },
      bindRetryMs: 0,
    });
    await server.start();
    const state = world().state;
    server.setView(dnsView(state, parseHostServices(['consul.local=169.254.32.1:80->8500'])));
    const r = await server.setAddresses(dnsAddresses(state));
    if (r.failed.length === 0) return;
    await server.stop();
  }
  throw new Error('no free port');
}

before(async () => {
  upstream = await new FakeUpstream().start();
  await startServer();
});

after(async () => {
  await server.stop();
  await upstream.stop();
});

test('listens on exactly the gateways of DNS-enabled networks', () => {
  assert.deepEqual(server.addresses, [GW, GW2, GWI]);
});

test('local names over UDP and TCP: name, alias, name.network, short id, TTL 0, AA', async () => {
  const b = world();
  for (const proto of ['udp', 'tcp'] as const) {
    const r = await ask(GW, port, B2, 'b1', { proto });
    assert.equal(rcode(r), 'NOERROR');
    assert.deepEqual(addrs(r), [B1]);
    assert.equal((r?.answers?.[0] as { ttl?: number } | undefined)?.ttl, 0);
    assert.equal(r?.flag_aa, true);
    assert.deepEqual(addrs(await ask(GW, port, B2, 'B1.Tn', { proto })), [B1]);
    // o1 is on tn2 only: its short id is not answered locally on tn (the upstream gets it)
    assert.ok(!addrs(await ask(GW, port, B2, b.sbId('o1').slice(0, 12), { proto })).includes(O1));
    assert.deepEqual(addrs(await ask(GW, port, B1, b.sbId('b2').slice(0, 12), { proto })), [B2]);
  }
  // the question comes back with the client's letter case
  const r = await ask(GW, port, B2, 'B1', {});
  assert.equal(r?.questions?.[0]?.name, 'B1');
  assert.equal(r?.answers?.[0]?.name, 'B1');
});

test('scoping: a name on a network the asker is not on is not answered locally', async () => {
  // o1 lives on tn2; b2 is only on tn: the query goes upstream (which knows nothing of o1 -> 10.99.0.77)
  assert.deepEqual(addrs(await ask(GW, port, B2, 'o1')), ['10.99.0.77']);
  assert.deepEqual(addrs(await ask(GW2, port, O1, 'o1')), [O1]);
  // a source that is not on any berth network is refused (no open resolver)
  const r = await ask(GW, port, '127.99.0.9', 'b1');
  assert.equal(rcode(r), 'REFUSED');
});

test('an alias of several sandboxes: all addresses, rotated between answers', async () => {
  const firsts: string[] = [];
  for (let i = 0; i < 4; i++) {
    const a = addrs(await ask(GW, port, DNSUSER, 'web'));
    assert.deepEqual([...a].sort(), [B1, B2]);
    firsts.push(a[0]!);
  }
  assert.deepEqual(firsts, [firsts[0], firsts[1], firsts[0], firsts[1]]);
  assert.notEqual(firsts[0], firsts[1]);
});

test('AAAA of a local name: NOERROR, no data; PTR of sandbox addresses; host services', async () => {
  const aaaa = await ask(GW, port, B2, 'b1', { type: 'AAAA' });
  assert.equal(rcode(aaaa), 'NOERROR');
  assert.equal(aaaa?.answers?.length, 0);
  const ptr = await ask(GW, port, B2, '2.0.31.127.in-addr.arpa', { type: 'PTR' });
  assert.deepEqual(ptr?.answers?.map((a) => (a as { data: string }).data), ['b1.tn']);
  const hidden = await ask(GW, port, B2, '2.0.32.127.in-addr.arpa', { type: 'PTR' });
  assert.equal(rcode(hidden), 'NXDOMAIN');
  assert.deepEqual(addrs(await ask(GW, port, B2, 'consul.local')), ['169.254.32.1']);
});

test('forwarding: host upstreams, the sandbox --dns list, NXDOMAIN and SERVFAIL passed on, over UDP and TCP', async () => {
  upstream.received.length = 0;
  assert.deepEqual(addrs(await ask(GW, port, B2, 'www.example')), ['10.99.0.77']);
  assert.deepEqual(addrs(await ask(GW, port, DNSUSER, 'www.example')), ['10.99.0.77']);
  assert.equal(rcode((await ask(GW, port, B2, 'nx.example'))), 'NXDOMAIN');
  assert.equal(rcode((await ask(GW, port, B2, 'fail.example'))), 'SERVFAIL');
  const t = await ask(GW, port, B2, 'tcp.example', { proto: 'tcp' });
  assert.deepEqual(addrs(t), ['10.99.0.77']);
  assert.deepEqual(
    upstream.received.map((r) => `${r.name}/${r.proto}`),
    ['www.example/udp', 'www.example/udp', 'nx.example/udp', 'fail.example/udp', 'tcp.example/tcp'],
  );
});

test('forwarded UDP queries share a socket, and a fresh one (new source port) takes over after CHANNEL_QUERIES', async () => {
  upstream.udpSourcePorts.length = 0;
  const n = CHANNEL_QUERIES + 8;
  // Half one after another, half at once: both kinds are answered through the shared socket.
  for (let i = 0; i < n / 2; i++) assert.deepEqual(addrs(await ask(GW, port, B2, `seq${i}.example`)), ['10.99.0.77']);
  const burst = await Promise.all(Array.from({ length: n / 2 }, (_, i) => ask(GW, port, B2, `burst${i}.example`)));
  for (const r of burst) assert.deepEqual(addrs(r), ['10.99.0.77']);
  const ports = upstream.udpSourcePorts;
  assert.equal(ports.length, n);
  const distinct = new Set(ports);
  assert.ok(distinct.size >= 2, `source port never changed over ${n} queries`);
  assert.ok(distinct.size <= 3, `${distinct.size} source ports for ${n} queries: sockets are not reused`);
  for (const p of distinct) {
    const uses = ports.filter((x) => x === p).length;
    assert.ok(uses <= CHANNEL_QUERIES, `source port ${p} carried ${uses} queries, more than ${CHANNEL_QUERIES}`);
  }
});

test('truncation: an upstream UDP answer with TC is fetched again over TCP', async () => {
  upstream.received.length = 0;
  // The client offers 4096 bytes with EDNS: the upstream's full TCP answer (40 A records) fits
  const r = await ask(GW, port, B2, 'big.example', { edns: 4096 });
  assert.equal(r?.flag_tc, false);
  assert.equal(addrs(r).length, 40);
  assert.deepEqual(upstream.received.map((x) => x.proto), ['udp', 'tcp']);
  // A client without EDNS (512 bytes) gets TC and asks again over TCP, where it gets everything
  const small = await ask(GW, port, B2, 'big.example');
  assert.equal(small?.flag_tc, true);
  assert.equal(addrs(await ask(GW, port, B2, 'big.example', { proto: 'tcp' })).length, 40);
});

test('upstream down: SERVFAIL fast (refused port), bounded for a resolver that never answers, then only probed', async () => {
  const dead = await deadPort();
  const hole = await blackhole();
  const s2 = new DnsServer({
    port,
    hostUpstreams: () => [
      { host: '127.0.0.1', port: dead },
      { host: '127.0.0.1', port: dead },
    ],
    forward: { attemptTimeoutMs: 300, budgetMs: 600 },
  });
  // the same state on another loopback gateway set: reuse tn's layout shifted to 127.41/16
  const b = new StateBuilder();
  b.network(net('tx', { subnet: '127.41.0.0/16', gateway: '127.41.0.1' }));
  b.sandbox({ name: 'c', nets: [{ net: 'tx', ip: '127.41.0.2' }] });
  await s2.start();
  s2.setView(dnsView(b.state));
  assert.deepEqual((await s2.setAddresses(['127.41.0.1'])).failed, []);
  try {
    const t0 = performance.now();
    const r = await ask('127.41.0.1', port, '127.41.0.2', 'www.example', { timeoutMs: 3000 });
    const ms = performance.now() - t0;
    assert.equal(rcode(r), 'SERVFAIL');
    assert.ok(ms < 1000, `SERVFAIL took ${ms} ms`);
    // local names are unaffected
    assert.deepEqual(addrs(await ask('127.41.0.1', port, '127.41.0.2', 'c')), ['127.41.0.2']);
    // a resolver that swallows queries costs at most the budget (600 ms here)
    const s3 = new DnsServer({
      port,
      hostUpstreams: () => [{ host: '127.0.0.1', port: hole.port }],
      forward: { attemptTimeoutMs: 300, budgetMs: 600, probeTimeoutMs: 100 },
    });
    await s2.stop();
    await s3.start();
    s3.setView(dnsView(b.state));
    await s3.setAddresses(['127.41.0.1']);
    const t1 = performance.now();
    const r3 = await ask('127.41.0.1', port, '127.41.0.2', 'www.example', { timeoutMs: 3000 });
    const ms3 = performance.now() - t1;
    assert.equal(rcode(r3), 'SERVFAIL');
    assert.ok(ms3 >= 250 && ms3 < 1000, `blackholed upstream took ${ms3} ms`);
    assert.equal(hole.count(), 1);
    // now known dead: the next query only probes it briefly
    const t2 = performance.now();
    assert.equal(rcode(await ask('127.41.0.1', port, '127.41.0.2', 'www2.example', { timeoutMs: 3000 })), 'SERVFAIL');
    const ms2 = performance.now() - t2;
    assert.ok(ms2 >= 80 && ms2 < 250, `probe of a dead upstream took ${ms2} ms`);
    assert.equal(hole.count(), 2);
    await s3.stop();
  } finally {
    await s2.stop();
    hole.close();
  }
});

test('a dead first upstream is skipped, the next one answers; it is then tried last', async () => {
  const hole = await blackhole();
  const b = new StateBuilder();
  b.network(net('ty', { subnet: '127.42.0.0/16', gateway: '127.42.0.1' }));
  b.sandbox({ name: 'c', nets: [{ net: 'ty', ip: '127.42.0.2' }] });
  const s = new DnsServer({
    port,
    hostUpstreams: () => [
      { host: '127.0.0.1', port: hole.port },
      { host: '127.0.0.1', port: upstream.port },
    ],
    forward: { attemptTimeoutMs: 200, budgetMs: 1000 },
  });
  await s.start();
  s.setView(dnsView(b.state));
  await s.setAddresses(['127.42.0.1']);
  try {
    const t0 = performance.now();
    assert.deepEqual(addrs(await ask('127.42.0.1', port, '127.42.0.2', 'a.example', { timeoutMs: 3000 })), ['10.99.0.77']);
    const first = performance.now() - t0;
    const t1 = performance.now();
    assert.deepEqual(addrs(await ask('127.42.0.1', port, '127.42.0.2', 'b.example', { timeoutMs: 3000 })), ['10.99.0.77']);
    const second = performance.now() - t1;
    assert.ok(first >= 150, `first query ${first} ms should have waited for the dead upstream`);
    assert.ok(second < 150, `second query ${second} ms should go to the live upstream first`);
    assert.equal(hole.count(), 1);
  } finally {
    await s.stop();
    hole.close();
  }
});

test('internal network: names answered, nothing forwarded (NXDOMAIN at once)', async () => {
  upstream.received.length = 0;
  assert.deepEqual(addrs(await ask(GWI, port, P1, 'p2')), ['127.33.0.3']);
  const t0 = performance.now();
  const r = await ask(GWI, port, P1, 'www.example');
  assert.equal(rcode(r), 'NXDOMAIN');
  assert.ok(performance.now() - t0 < 200);
  assert.equal(upstream.received.length, 0);
});

test('malformed, oversized and unsupported queries: FORMERR / NOTIMP / BADVERS / dropped, server unharmed', async () => {
  const send = (m: Buffer) => udpRaw(GW, port, B2, m, 300);
  const q = encodeQuery('b1', { id: 0x1234 });
  const rcodeOf = (b: Buffer | undefined) => (b ? b.readUInt16BE(2) & 0xf : -1);
  // too short for a header: no answer
  assert.equal(await send(Buffer.from([1, 2, 3])), undefined);
  // a response (QR set) sent to us: no answer (no reflection loops)
  const resp = Buffer.from(q);
  resp.writeUInt16BE(resp.readUInt16BE(2) | 0x8000, 2);
  assert.equal(await send(resp), undefined);
  // two questions
  const two = Buffer.from(q);
  two.writeUInt16BE(2, 4);
  const r2 = await send(two);
  assert.equal(rcodeOf(r2), 1);
  assert.equal(r2!.readUInt16BE(0), 0x1234);
  // opcode STATUS (2) and UPDATE (5)
  for (const op of [2, 5]) {
    const m = Buffer.from(q);
    m.writeUInt16BE((m.readUInt16BE(2) & ~0x7800) | (op << 11), 2);
    const r = await send(m);
    assert.equal(rcodeOf(r), 4);
    assert.equal((r!.readUInt16BE(2) >> 11) & 0xf, op);
  }
  // AXFR and class CHAOS
  assert.equal(rcodeOf(await send(encodeQuery('tn', { type: 'AXFR' }))), 4);
  const ch = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] });
  assert.equal(rcodeOf(await send(ch)), 4);
  // a label running past the end, a compression pointer in the question
  assert.equal(rcodeOf(await send(Buffer.concat([q.subarray(0, 12), Buffer.from([30, 0x61, 0x62])]))), 1);
  assert.equal(rcodeOf(await send(Buffer.concat([q.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]))), 1);
  // oversized
  const big = Buffer.concat([q, Buffer.alloc(5000)]);
  assert.equal(rcodeOf(await send(big)), 1);
  // EDNS version 1: BADVERS (extended rcode 1 in OPT)
  const v1 = dnsPacket.encode({
    type: 'query',
    id: 9,
    questions: [{ name: 'b1', type: 'A' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, ednsVersion: 1 } as never],
  });
  const rv = await send(v1);
  const dv = dnsPacket.decode(rv!);
  assert.equal((dv.additionals?.[0] as { extendedRcode: number }).extendedRcode, 1);
  // a TCP stream that is not DNS: closed
  assert.deepEqual(await tcpRaw(GW, port, B2, [Buffer.from('GET / HTTP/1.1\r\n\r\n')], 1, 500).then((r) => r.length <= 1), true);
  // still serving
  assert.deepEqual(addrs(await ask(GW, port, B2, 'b1')), [B1]);
});

test('fuzz: 3000 random and mutated packets never crash the server; every answer decodes', async () => {
  const sock = dgram.createSocket('udp4');
  const answers: Buffer[] = [];
  sock.on('message', (m) => answers.push(m));
  await new Promise<void>((r) => sock.bind(0, B2, () => r()));
  const base = [encodeQuery('b1', { edns: 1232 }), encodeQuery('www.example'), encodeQuery('2.0.31.127.in-addr.arpa', { type: 'PTR' })];
  let seed = 42;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (let i = 0; i < 3000; i++) {
    let m: Buffer;
    if (i % 3 === 0) {
      m = Buffer.alloc(rnd(80));
      for (let j = 0; j < m.length; j++) m[j] = rnd(256);
    } else {
      m = Buffer.from(base[i % base.length]!);
      for (let k = 0; k < 1 + rnd(4); k++) m[rnd(m.length)] = rnd(256);
      m.writeUInt16BE(m.readUInt16BE(2) & 0x7fff, 2); // keep QR clear so that most are answered
    }
    sock.send(m, port, GW);
    if (i % 50 === 0) await new Promise((r) => setTimeout(r, 15)); // paced: a full socket buffer would drop packets, not test the parser
  }
  await new Promise((r) => setTimeout(r, 900));
  sock.close();
  // about 2/3 of the packets carry a header and no QR bit; most of those are answered
  assert.ok(answers.length > 800, `only ${answers.length} answers`);
  for (const a of answers) {
    assert.doesNotThrow(() => dnsPacket.decode(a), `undecodable answer ${a.toString('hex')}`);
  }
  assert.deepEqual(addrs(await ask(GW, port, B2, 'b1')), [B1]);
  assert.ok(!logs.some((l) => l.includes('internal error')), logs.filter((l) => l.includes('internal error')).join('\n'));
});

test('a big local answer: TC over UDP without EDNS, all of it over TCP', async () => {
  const s = new DnsServer({ port });
  const b = new StateBuilder();
  b.network(net('tz', { subnet: '127.43.0.0/16', gateway: '127.43.0.1' }));
  for (let i = 2; i < 62; i++) b.sandbox({ name: `r${i}`, nets: [{ net: 'tz', ip: `127.43.0.${i}`, aliases: ['pool'] }] });
  await s.start();
  s.setView(dnsView(b.state));
  await s.setAddresses(['127.43.0.1']);
  try {
    const u = await ask('127.43.0.1', port, '127.43.0.2', 'pool');
    assert.equal(u?.flag_tc, true);
    assert.equal(u?.answers?.length, 0);
    assert.equal(addrs(await ask('127.43.0.1', port, '127.43.0.2', 'pool', { edns: 1232 })).length, 60);
    assert.equal(addrs(await ask('127.43.0.1', port, '127.43.0.2', 'pool', { proto: 'tcp' })).length, 60);
    // pipelined queries on one TCP connection
    const two = await tcpRaw('127.43.0.1', port, '127.43.0.2', [encodeQuery('r2', { id: 1 }), encodeQuery('r3', { id: 2 })], 2);
    assert.deepEqual(two.map((x) => addrs(dnsPacket.decode(x))).flat().sort(), ['127.43.0.2', '127.43.0.3']);
  } finally {
    await s.stop();
  }
});

test('addresses come and go: sockets are added and removed', async () => {
  const s = new DnsServer({ port });
  const b = new StateBuilder();
  b.network(net('ta', { subnet: '127.44.0.0/16', gateway: '127.44.0.1' }));
  b.sandbox({ name: 'c', nets: [{ net: 'ta', ip: '127.44.0.2' }] });
  const follower = new DnsFollower(s);
  await s.start();
  try {
    await follower.sync(b.state);
    assert.deepEqual(s.addresses, ['127.44.0.1']);
    assert.deepEqual(addrs(await ask('127.44.0.1', port, '127.44.0.2', 'c')), ['127.44.0.2']);
    b.network(net('tb', { subnet: '127.45.0.0/16', gateway: '127.45.0.1' }));
    b.sandbox({ name: 'd', nets: [{ net: 'tb', ip: '127.45.0.2' }] });
    await follower.sync(b.state);
    assert.deepEqual(s.addresses, ['127.44.0.1', '127.45.0.1']);
    assert.deepEqual(addrs(await ask('127.45.0.1', port, '127.45.0.2', 'd')), ['127.45.0.2']);
    delete b.state.networks[b.netId('ta')];
    await follower.sync(b.state);
    assert.deepEqual(s.addresses, ['127.45.0.1']);
    assert.equal(await ask('127.44.0.1', port, '127.44.0.2', 'c', { timeoutMs: 300 }), undefined);
  } finally {
    await s.stop();
  }
  assert.deepEqual(s.addresses, []);
});

test('reload gap: queries run continuously while the view is swapped 100 times; none unanswered', async () => {
  const states = [world().state, world((b) => b.sandbox({ name: 'extra', nets: [{ net: 'tn', ip: '127.31.0.50' }] })).state];
  let stop = false;
  let sent = 0;
  let answered = 0;
  let wrong = 0;
  const client = async (from: string): Promise<void> => {
    while (!stop) {
      sent++;
      const r = await ask(GW, port, from, 'b1', { timeoutMs: 1000 });
      if (r) answered++;
      if (!r || addrs(r)[0] !== B1) wrong++;
    }
  };
  const clients = [B2, DNSUSER, '127.31.0.9', '127.31.0.10'].map(client);
  for (let i = 0; i < 100; i++) {
    server.setView(dnsView(states[i % 2]!));
    await new Promise((r) => setTimeout(r, 5));
  }
  stop = true;
  await Promise.all(clients);
  assert.ok(sent > 100, `only ${sent} queries`);
  assert.equal(answered, sent);
  assert.equal(wrong, 0);
  console.log(`# reload gap: ${sent} queries during 100 swaps, ${sent - answered} unanswered`);
});
