// Behaviour of the planned forward filtering, traced through the rule text (no kernel needed).
// The kernel test checks the same behaviours with real packets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firewallView } from '../../src/plan/firewall-view.js';
import type { BerthState } from '../../src/model/types.js';
import { bind, network, sandbox, stateOf } from './fw-fixture.js';
import { traceForward, type Packet } from './fw-trace.js';
import { fixture } from './brands.js';
import type { DomainName } from '../../src/model/types.js';

function lab(o: { icc?: boolean } = {}): BerthState {
  const br = network('bridge', 'berth0', '172.17.0.0/16', { icc: o.icc ?? true });
  const b = network('net-b', 'berth-b', '172.18.0.0/16');
  const i = network('net-i', 'berth-i', '172.19.0.0/16', { internal: true });
  const web = sandbox('web', [{ net: br, ip: '172.17.0.2' }], { exposedPorts: [{ port: 80, proto: 'tcp' }] }, [bind(8080, 80)]);
  const client = sandbox('client', [{ net: br, ip: '172.17.0.3' }], { links: [{ targetId: web.id, targetName: 'web', alias: fixture<DomainName>('w') }] });
  const other = sandbox('other', [{ net: br, ip: '172.17.0.4' }]);
  const s3 = sandbox('s3', [{ net: b, ip: '172.18.0.2' }]);
  const s6 = sandbox('s6', [{ net: i, ip: '172.19.0.2' }]);
  const s7 = sandbox('s7', [{ net: i, ip: '172.19.0.3' }]);
  return stateOf([br, b, i], [web, client, other, s3, s6, s7]);
}

const pkt = (iif: string, oif: string, saddr: string, daddr: string, dport: number, o: Partial<Packet> = {}): Packet => ({
  iif,
  oif,
  saddr,
  daddr,
  proto: 'tcp',
  dport,
  ct: 'new',
  ...o,
});
const verdict = (state: BerthState, p: Packet, user?: Parameters<typeof traceForward>[2]) => traceForward(firewallView(state), p, user).verdict;

test('ICC on: anything between sandboxes of one network', () => {
  assert.equal(verdict(lab(), pkt('berth0', 'berth0', '172.17.0.4', '172.17.0.2', 81)), 'accept');
});

test('ICC off: dropped, except links to exposed ports, published ports via the host, and replies', () => {
  const s = lab({ icc: false });
  assert.equal(verdict(s, pkt('berth0', 'berth0', '172.17.0.4', '172.17.0.2', 80)), 'drop');
  assert.equal(verdict(s, pkt('berth0', 'berth0', '172.17.0.3', '172.17.0.2', 80)), 'accept', 'link to an exposed port');
  assert.equal(verdict(s, pkt('berth0', 'berth0', '172.17.0.3', '172.17.0.2', 81)), 'drop', 'not exposed');
  assert.equal(verdict(s, pkt('berth0', 'berth0', '172.17.0.2', '172.17.0.3', 80)), 'drop', 'a link opens one way');
  assert.equal(verdict(s, pkt('berth0', 'berth0', '172.17.0.3', '172.17.0.2', 80, { proto: 'udp' })), 'drop', 'tcp only was exposed');
  assert.equal(verdict(s, pkt('berth0', 'berth0', '172.17.0.4', '172.17.0.2', 80, { dnat: true })), 'accept', 'hairpin to a published port');
  // The routing mesh: bridged in from another host's bridge (MAC 02:4d + its address), DNATed there.
  assert.equal(verdict(s, pkt('berth0', 'berth0', '10.99.0.7', '172.17.0.2', 80, { smac: '02:4d:0a:63:00:17' })), 'accept', 'mesh flow to a published target');
  assert.equal(verdict(s, pkt('berth0', 'berth0', '10.99.0.7', '172.17.0.2', 81, { smac: '02:4d:0a:63:00:17' })), 'drop', 'mesh: published targets only');
  assert.equal(verdict(s, pkt('berth0', 'berth0', '172.17.0.4', '172.17.0.2', 80, { smac: '02:42:ac:11:00:04' })), 'drop', 'a sandbox is not the mesh');
  assert.equal(verdict(s, pkt('berth0', 'berth0', '172.17.0.2', '172.17.0.4', 5555, { ct: 'established' })), 'accept');
  assert.equal(verdict(s, pkt('berth0', 'up0', '172.17.0.4', '10.99.0.2', 9000)), 'accept', 'outbound');
  assert.equal(verdict(s, pkt('up0', 'berth0', '10.99.0.2', '172.17.0.2', 80, { dnat: true })), 'accept', 'published');
});

test('from outside: only published ports, only after DNAT', () => {
  const s = lab();
  assert.equal(verdict(s, pkt('up0', 'berth0', '10.99.0.2', '172.17.0.2', 80, { dnat: true })), 'accept');
  assert.equal(verdict(s, pkt('up0', 'berth0', '10.99.0.2', '172.17.0.2', 80)), 'drop', 'routed directly, not through DNAT');
  assert.equal(verdict(s, pkt('up0', 'berth0', '10.99.0.2', '172.17.0.2', 81, { dnat: true })), 'drop', 'not a published target');
  assert.equal(verdict(s, pkt('up0', 'eth1', '10.99.0.2', '10.1.1.1', 22)), 'accept', 'not berth traffic');
});

test('isolation between networks, except published ports through the host', () => {
  const s = lab();
  assert.equal(verdict(s, pkt('berth-b', 'berth0', '172.18.0.2', '172.17.0.2', 80)), 'drop');
  assert.equal(verdict(s, pkt('berth0', 'berth-b', '172.17.0.2', '172.18.0.2', 80)), 'drop');
  assert.equal(verdict(s, pkt('berth-b', 'berth0', '172.18.0.2', '172.17.0.2', 80, { dnat: true })), 'accept');
});

test('internal networks: inside yes; in, out and to published ports of others no', () => {
  const s = lab();
  assert.equal(verdict(s, pkt('berth-i', 'berth-i', '172.19.0.2', '172.19.0.3', 80)), 'accept');
  assert.equal(verdict(s, pkt('berth-i', 'up0', '172.19.0.2', '10.99.0.2', 9000)), 'drop');
  assert.equal(verdict(s, pkt('berth-i', 'berth0', '172.19.0.2', '172.17.0.2', 80, { dnat: true })), 'drop');
  assert.equal(verdict(s, pkt('up0', 'berth-i', '10.99.0.2', '172.19.0.2', 80)), 'drop');
});

test('the user chain comes first: its drop wins, its accept skips berth; the skip mark too', () => {
  const s = lab();
  const dropOne = (p: Packet) => (p.saddr === '10.20.30.13' && p.daddr === '172.17.0.2' && p.dport === 80 ? ('drop' as const) : undefined);
  assert.equal(verdict(s, pkt('up0', 'berth0', '10.20.30.13', '172.17.0.2', 80, { dnat: true }), dropOne), 'drop');
  assert.equal(verdict(s, pkt('up0', 'berth0', '10.20.30.14', '172.17.0.2', 80, { dnat: true }), dropOne), 'accept');
  const acceptAll = () => 'accept' as const;
  assert.equal(verdict(s, pkt('up0', 'berth0', '10.99.0.2', '172.17.0.2', 81), acceptAll), 'accept');
  assert.equal(verdict(s, pkt('up0', 'berth0', '10.99.0.2', '172.17.0.2', 81, { mark: 0x00400000 })), 'accept');
});

test('the trace names the rules a packet met, by their comments', () => {
  const t = traceForward(firewallView(lab({ icc: false })), pkt('berth0', 'berth0', '172.17.0.4', '172.17.0.2', 80));
  assert.deepEqual(t.matched, [
    'filter-forward: berth traffic: host firewalls that drop forwarding let this mark through',
    'filter-forward: user rules first (chain user-forward is never touched by berth)',
    'filter-forward: between sandboxes of one network: ICC on or off',
    'icc-off: ICC disabled on this network',
  ]);
});
