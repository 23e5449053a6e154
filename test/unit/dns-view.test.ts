import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsAddresses, dnsView, ipv4ToPtr, ptrToIpv4, QTYPE, type DnsDecision } from '../../src/plan/dns-view.js';
import { parseHostServices } from '../../src/model/host-service.js';
import { StateBuilder, net } from './dns-fixture.js';

const A = QTYPE.A;

function world(): StateBuilder {
  const b = new StateBuilder();
  b.network(net('my-net', { subnet: '172.18.0.0/16', gateway: '172.18.0.1' }));
  b.network(net('other', { subnet: '172.19.0.0/16', gateway: '172.19.0.1' }));
  b.network(net('priv', { subnet: '172.20.0.0/16', gateway: '172.20.0.1', internal: true }));
  b.network(net('dotted.net', { subnet: '172.21.0.0/16', gateway: '172.21.0.1' }));
  b.sandbox({ name: 'b1', nets: [{ net: 'my-net', ip: '172.18.0.2', aliases: ['web-alias'] }] });
  b.sandbox({ name: 'b2', nets: [{ net: 'my-net', ip: '172.18.0.3' }], dns: ['10.99.0.2'] });
  b.sandbox({ name: 'o1', nets: [{ net: 'other', ip: '172.19.0.2', aliases: ['web-alias'] }] });
  b.sandbox({
    name: 'both',
    nets: [
      { net: 'other', ip: '172.19.0.3' },
      { net: 'my-net', ip: '172.18.0.4' },
    ],
    hostname: 'bothhost',
  });
  b.sandbox({ name: 'p1', nets: [{ net: 'priv', ip: '172.20.0.2' }] });
  b.sandbox({ name: 'p2', nets: [{ net: 'priv', ip: '172.20.0.3' }] });
  b.sandbox({ name: 'd1', nets: [{ net: 'bridge', ip: '172.17.0.2' }] });
  b.sandbox({ name: 'x', nets: [{ net: 'dotted.net', ip: '172.21.0.2' }] });
  return b;
}

function ips(d: DnsDecision): string[] | string {
  if (d.kind !== 'local') return d.kind;
  if (d.rcode !== 'NOERROR') return d.rcode;
  return d.records.map((r) => r.data);
}

test('names, aliases, name.network, short id and --hostname resolve on a user network (S2, oracle §3 b)', () => {
  const b = world();
  const v = dnsView(b.state);
  const q = (name: string) => ips(v.answer('172.18.0.1', '172.18.0.3', name, A));
  assert.deepEqual(q('b1'), ['172.18.0.2']);
  assert.deepEqual(q('B1.'), ['172.18.0.2']);
  assert.deepEqual(q('web-alias'), ['172.18.0.2']);
  assert.deepEqual(q('b1.my-net'), ['172.18.0.2']);
  assert.deepEqual(q('web-alias.my-net'), ['172.18.0.2']);
  assert.deepEqual(q(b.sbId('b1').slice(0, 12)), ['172.18.0.2']);
  assert.deepEqual(q('bothhost'), ['172.18.0.4']);
  assert.deepEqual(q('b2'), ['172.18.0.3']);
});

test('scoping: never an address on a network the asker is not on', () => {
  const v = dnsView(world().state);
  // b2 is only on my-net: o1 lives on other -> not local -> forwarded
  assert.equal(v.answer('172.18.0.1', '172.18.0.3', 'o1', A).kind, 'forward');
  assert.equal(v.answer('172.18.0.1', '172.18.0.3', 'o1.other', A).kind, 'forward');
  // "both" is on both networks: b2 sees only its my-net address
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.3', 'both', A)), ['172.18.0.4']);
  // a sandbox on both sees names of both; its address on the network asked from comes first
  assert.deepEqual(ips(v.answer('172.19.0.1', '172.19.0.3', 'o1', A)), ['172.19.0.2']);
  assert.deepEqual(ips(v.answer('172.19.0.1', '172.19.0.3', 'b1', A)), ['172.18.0.2']);
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.4', 'web-alias', A)), ['172.18.0.2']);
  assert.deepEqual(ips(v.answer('172.19.0.1', '172.19.0.3', 'web-alias', A)), ['172.19.0.2']);
  // even asking another network's gateway, a sandbox sees only its own networks
  assert.equal(v.answer('172.19.0.1', '172.18.0.3', 'o1', A).kind, 'forward');
  // default bridge sandboxes are no clients of berth's DNS
  assert.equal(v.answer('172.18.0.1', '172.17.0.2', 'b1', A).kind, 'refuse');
  // unknown listen address or a source outside berth
  assert.equal(v.answer('172.17.0.1', '172.17.0.2', 'b1', A).kind, 'refuse');
  assert.equal(v.answer('172.18.0.1', '10.99.0.2', 'b1', A).kind, 'refuse');
});

test('the host (gateway or loopback source) sees the names of the network it asks', () => {
  const v = dnsView(world().state);
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.1', 'b1', A)), ['172.18.0.2']);
  assert.deepEqual(ips(v.answer('172.19.0.1', '127.0.0.1', 'web-alias', A)), ['172.19.0.2']);
  assert.deepEqual(v.answer('172.18.0.1', '127.0.0.1', 'example.org', A), { kind: 'forward', upstreams: 'host' });
  // an address in the subnet not (yet) in state: same as the host
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.99', 'b1', A)), ['172.18.0.2']);
});

test('several sandboxes with one alias: all addresses, rotated between answers', () => {
  const b = world();
  b.sandbox({ name: 'r1', nets: [{ net: 'my-net', ip: '172.18.0.11', aliases: ['pool'] }] });
  b.sandbox({ name: 'r2', nets: [{ net: 'my-net', ip: '172.18.0.12', aliases: ['pool'] }] });
  b.sandbox({ name: 'r3', nets: [{ net: 'my-net', ip: '172.18.0.13', aliases: ['pool'] }] });
  const v = dnsView(b.state);
  const seen = [0, 1, 2, 3].map(() => ips(v.answer('172.18.0.1', '172.18.0.3', 'pool', A)));
  assert.deepEqual(seen, [
    ['172.18.0.11', '172.18.0.12', '172.18.0.13'],
    ['172.18.0.12', '172.18.0.13', '172.18.0.11'],
    ['172.18.0.13', '172.18.0.11', '172.18.0.12'],
    ['172.18.0.11', '172.18.0.12', '172.18.0.13'],
  ]);
  const d = v.answer('172.18.0.1', '172.18.0.3', 'pool', A);
  assert.ok(d.kind === 'local' && d.records.every((r) => r.ttl === 0 && r.type === 'A'));
});

test('AAAA and other types of local names: NOERROR with no data; ANY gives the A records', () => {
  const v = dnsView(world().state);
  assert.deepEqual(v.answer('172.18.0.1', '172.18.0.3', 'b1', QTYPE.AAAA), { kind: 'local', rcode: 'NOERROR', records: [], why: 'local name, no such type' });
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.3', 'b1', QTYPE.MX)), []);
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.3', 'b1', QTYPE.ANY)), ['172.18.0.2']);
  assert.equal(v.answer('172.18.0.1', '172.18.0.3', 'example.org', QTYPE.AAAA).kind, 'forward');
});

test('PTR for sandbox addresses (name.network), scoped; unknown berth addresses NXDOMAIN; others forwarded', () => {
  const v = dnsView(world().state);
  assert.deepEqual(ptrToIpv4('2.0.18.172.in-addr.arpa'), '172.18.0.2');
  assert.equal(ipv4ToPtr('172.18.0.2'), '2.0.18.172.in-addr.arpa');
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.3', '2.0.18.172.in-addr.arpa', QTYPE.PTR)), ['b1.my-net']);
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.3', '4.0.18.172.IN-ADDR.ARPA.', QTYPE.PTR)), ['both.my-net']);
  assert.equal(ips(v.answer('172.18.0.1', '172.18.0.3', '2.0.19.172.in-addr.arpa', QTYPE.PTR)), 'NXDOMAIN');
  assert.equal(ips(v.answer('172.18.0.1', '172.18.0.3', '77.0.18.172.in-addr.arpa', QTYPE.PTR)), 'NXDOMAIN');
  assert.equal(v.answer('172.18.0.1', '172.18.0.3', '2.0.99.10.in-addr.arpa', QTYPE.PTR).kind, 'forward');
  assert.equal(v.answer('172.18.0.1', '172.18.0.3', '0.18.172.in-addr.arpa', QTYPE.PTR).kind, 'forward');
});

test('forwarding: the asker\'s --dns list, else the host\'s; internal networks never forward', () => {
  const v = dnsView(world().state);
  assert.deepEqual(v.answer('172.18.0.1', '172.18.0.3', 'example.org', A), { kind: 'forward', upstreams: ['10.99.0.2'] });
  assert.deepEqual(v.answer('172.18.0.1', '172.18.0.2', 'example.org', A), { kind: 'forward', upstreams: 'host' });
  // internal network: names work, everything else NXDOMAIN at once
  assert.deepEqual(ips(v.answer('172.20.0.1', '172.20.0.2', 'p2', A)), ['172.20.0.3']);
  assert.deepEqual(v.answer('172.20.0.1', '172.20.0.2', 'example.org', A), {
    kind: 'local',
    rcode: 'NXDOMAIN',
    records: [],
    why: 'internal network: not forwarded',
  });
  assert.equal(ips(v.answer('172.20.0.1', '172.20.0.1', 'example.org', A)), 'NXDOMAIN');
  assert.equal(ips(v.answer('172.20.0.1', '172.20.0.2', '9.9.9.9.in-addr.arpa', QTYPE.PTR)), 'NXDOMAIN');
});

test('a sandbox on an internal and a normal network forwards (it has a way out)', () => {
  const b = world();
  b.sandbox({ name: 'gw', nets: [{ net: 'priv', ip: '172.20.0.9' }, { net: 'my-net', ip: '172.18.0.9' }] });
  const v = dnsView(b.state);
  assert.equal(v.answer('172.20.0.1', '172.20.0.9', 'example.org', A).kind, 'forward');
  assert.deepEqual(ips(v.answer('172.20.0.1', '172.20.0.9', 'b1', A)), ['172.18.0.2']);
});

test('link aliases: the linking sandbox alone resolves them, to the target on the shared network', () => {
  const b = world();
  b.sandbox({ name: 'lc', nets: [{ net: 'my-net', ip: '172.18.0.20', links: ['b1:lalias'] }] });
  b.sandbox({ name: 'lc2', nets: [{ net: 'my-net', ip: '172.18.0.21' }], links: [{ target: 'both', alias: 'b1' }] });
  const v = dnsView(b.state);
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.20', 'lalias', A)), ['172.18.0.2']);
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.20', 'lalias.my-net', A)), ['172.18.0.2']);
  assert.equal(v.answer('172.18.0.1', '172.18.0.3', 'lalias', A).kind, 'forward');
  // a link alias wins over a sandbox name, as Docker's local aliases
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.21', 'b1', A)), ['172.18.0.4']);
});

test('network names with dots, host services, single labels with a user ndots', () => {
  const b = world();
  b.sandbox({ name: 'nd', nets: [{ net: 'my-net', ip: '172.18.0.30' }], dnsOptions: ['ndots:2'] });
  const v = dnsView(b.state, parseHostServices(['consul.local=169.254.32.1:80->8500']));
  assert.deepEqual(ips(v.answer('172.21.0.1', '172.21.0.2', 'x.dotted.net', A)), ['172.21.0.2']);
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.3', 'consul.local', A)), ['169.254.32.1']);
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.3', '1.32.254.169.in-addr.arpa', QTYPE.PTR)), ['consul.local']);
  assert.deepEqual(ips(v.answer('172.18.0.1', '172.18.0.30', 'nosuch', A)), []);
  assert.equal(v.answer('172.18.0.1', '172.18.0.30', 'nosuch.example', A).kind, 'forward');
  assert.equal(v.answer('172.18.0.1', '172.18.0.3', 'nosuch', A).kind, 'forward');
});

test('addresses: the gateways of DNS-enabled networks; views are snapshots', () => {
  const b = world();
  assert.deepEqual(dnsAddresses(b.state), ['172.18.0.1', '172.19.0.1', '172.20.0.1', '172.21.0.1']);
  const v1 = dnsView(b.state);
  assert.deepEqual(v1.addresses, dnsAddresses(b.state));
  b.sandbox({ name: 'late', nets: [{ net: 'my-net', ip: '172.18.0.40' }] });
  const v2 = dnsView(b.state);
  // the first view does not see the later sandbox (a built view is not affected by later changes)
  assert.equal(v1.answer('172.18.0.1', '172.18.0.3', 'late', A).kind, 'forward');
  assert.deepEqual(ips(v2.answer('172.18.0.1', '172.18.0.3', 'late', A)), ['172.18.0.40']);
  assert.ok(v2.serial > v1.serial);
});
