// The `ip -batch` lines for a sandbox's interfaces, compared with golden files
// (regenerate with UPDATE_GOLDEN=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  bridgeAttachBatch,
  bridgeCreateBatch,
  bridgeRepairBatch,
  bridgeHostBatch,
  bridgeSandboxBatch,
  linkDeleteBatch,
  linkDeleteOps,
  netnsDeleteOps,
  p2pJoinBatch,
  p2pSandboxBatch,
  sandboxCreateBatch,
  sandboxCreateOps,
  type BridgePort,
} from '../../src/plan/link-plan.js';
import { macFromIp } from '../../src/model/ids.js';
import { parseIfName as ifn, parseIpv4 as ip } from '../../src/model/net-values.js';

const dir = fileURLToPath(new URL('../../../test/unit/golden/links/', import.meta.url));

function golden(name: string, lines: readonly string[]): void {
  const text = lines.join('\n') + '\n';
  const path = dir + name;
  if (process.env['UPDATE_GOLDEN']) writeFileSync(path, text);
  assert.equal(text, readFileSync(path, 'utf8'));
}

const web: BridgePort = {
  hostIf: ifn('bv0123456789ab'), ifName: ifn('eth0'), bridge: ifn('berth0'), mac: macFromIp('172.17.0.2'),
  ip: ip('172.17.0.2'), prefixLen: 16, mtu: 1500, defaultRouteVia: ip('172.17.0.1'),
};
const second: BridgePort = {
  hostIf: ifn('bvfedcba987654'), ifName: ifn('eth1'), bridge: ifn('berth-4a5b6c7d8'), mac: macFromIp('10.123.0.2'),
  ip: ip('10.123.0.2'), prefixLen: 24, mtu: 1450,
};

test('MAC addresses follow the IP as Docker: 02:42 and the four bytes', () => {
  assert.equal(macFromIp('172.17.0.3'), '02:42:ac:11:00:03');
  assert.equal(macFromIp('10.123.0.2'), '02:42:0a:7b:00:02');
});

test('bridge,networks=2: host side (veths into the namespace) and sandbox side (addresses, one default route)', () => {
  golden('bridge,networks=2,side=host.batch', bridgeHostBatch('/run/berth/netns/0123456789ab', [web, second]));
  golden('bridge,networks=2,side=sandbox.batch', bridgeSandboxBatch([web, second]));
});

test('p2p: /32 address and a host route to the peer, no default route', () => {
  golden('p2p,side=sandbox.batch', p2pSandboxBatch({ ifName: ifn('eth0'), ip: ip('10.0.9.2'), peerIp: ip('10.0.9.3') }));
});

test('bridge create: device, gateway address, up', () => {
  golden('bridge,create.batch', bridgeCreateBatch(ifn('berth-4a5b6c7d8'), ip('172.18.0.1'), 16, 1500));
});

test('bridge repair at start: gateway address replaced, up', () => {
  golden('bridge,repair.batch', bridgeRepairBatch(ifn('berth0'), ip('172.17.0.1'), 16));
});

test('start,networks=2: one batch inside the new namespace (veths made there, host ends pushed out), one attaching the host ends', () => {
  golden('start,networks=2,side=sandbox.batch', sandboxCreateBatch('/proc/4242/ns/net', [web, second]));
  golden('start,networks=2,side=host.batch', bridgeAttachBatch([web, second]));
});

test('p2p,join: one veth, an end into each sandbox namespace, the second renamed', () => {
  golden(
    'p2p,side=host.batch',
    p2pJoinBatch({ hostIf: ifn('bp0123456789ab'), ifName: ifn('eth1'), netns: '/run/berth/netns/aaaaaaaaaaaa', peerIfName: ifn('eth1'), peerNetns: '/run/berth/netns/bbbbbbbbbbbb' }),
  );
});

test('disconnect: the interface goes, inside the sandbox', () => {
  golden('disconnect,side=sandbox.batch', linkDeleteBatch(ifn('eth1')));
});

test('a value that is not what it claims (a cast past the brand) never reaches an ip batch', () => {
  const cast = <T>(v: string) => v as unknown as T;
  assert.throws(() => linkDeleteBatch(cast('eth1\nlink del eth0')), /refusing to put interface name/);
  assert.throws(() => bridgeRepairBatch(ifn('berth0'), cast('172.18.0.1 dev lo'), 16), /refusing to put address/);
  assert.throws(() => bridgeSandboxBatch([{ ...web, prefixLen: 33 }]), /refusing to put prefix length 33/);
  assert.throws(() => bridgeHostBatch('/run/netns/x; reboot', [web]), /refusing to put namespace path/);
  assert.throws(() => bridgeCreateBatch(ifn('berth0'), ip('172.17.0.1'), 16, 1500, 'not-a-mac'), /refusing to put MAC address/);
});

test('start through the netlink helper: one request makes the namespace, its veths, addresses and route, and the bridge ports', () => {
  golden('start,networks=2,helper.ops', sandboxCreateOps('/run/berth/netns/0123456789ab', [web, second]));
  golden('remove,helper.ops', [...netnsDeleteOps('/run/berth/netns/0123456789ab'), ...linkDeleteOps(ifn('bv0123456789ab'))]);
});

test('a value that would split the netlink helper\'s words or lines never reaches it', () => {
  const cast = <T>(v: string) => v as unknown as T;
  assert.throws(() => netnsDeleteOps('/run/berth/netns/a b'), /refusing to put namespace path/);
  assert.throws(() => netnsDeleteOps('/run/berth/netns/a\tnsdel /etc'), /refusing to put namespace path/);
  assert.throws(() => linkDeleteOps(cast('eth1\n2\tdel eth0')), /refusing to put interface name/);
  assert.throws(() => sandboxCreateOps('/run/berth/netns/x', [{ ...web, ip: cast('172.17.0.2 1') }]), /refusing to put address/);
});
