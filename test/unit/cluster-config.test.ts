import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClusterFlags, parseClusterStore } from '../../src/model/cluster-config.js';

test('cluster-store: etcd URLs, every member checked', () => {
  assert.deepEqual(parseClusterStore('etcd://10.0.0.1:2379,etcd-b:2379'), ['http://10.0.0.1:2379', 'http://etcd-b:2379']);
  assert.throws(() => parseClusterStore('consul://a:8500'), /use etcd:\/\/HOST:PORT/);
  assert.throws(() => parseClusterStore('etcd://a:2379,b'), /member "b": use HOST:PORT/);
  assert.throws(() => parseClusterStore('etcd://a:99999'), /member "a:99999"/);
});

test('cluster flags: none is single-host; the others need --cluster-store; defaults and bounds', () => {
  assert.equal(parseClusterFlags({}, 'box'), undefined);
  assert.throws(() => parseClusterFlags({ nodeName: 'x' }, 'box'), /--node-name needs --cluster-store/);
  assert.throws(() => parseClusterFlags({ clusterStore: 'etcd://a:1' }, 'box'), /needs --advertise-addr/);
  assert.throws(() => parseClusterFlags({ clusterStore: 'etcd://a:1', advertiseAddr: '10.0.0.300' }, 'box'), /invalid --advertise-addr/);
  const c = parseClusterFlags({ clusterStore: 'etcd://a:1', advertiseAddr: '10.0.0.3' }, 'box');
  assert.deepEqual(c, { endpoints: ['http://a:1'], advertiseAddr: '10.0.0.3', nodeName: 'box', leaseTtl: 10, callDeadlineMs: 3000 });
  assert.equal(parseClusterFlags({ clusterStore: 'etcd://a:1', advertiseAddr: '10.0.0.3', leaseTtl: '3' }, 'b')?.callDeadlineMs, 1000);
  for (const bad of ['1', '61', '2.5', 'ten']) assert.throws(() => parseClusterFlags({ clusterStore: 'etcd://a:1', advertiseAddr: '10.0.0.3', leaseTtl: bad }, 'b'), /invalid --lease-ttl/);
  assert.throws(() => parseClusterFlags({ clusterStore: 'etcd://a:1', advertiseAddr: '10.0.0.3', nodeName: 'a b' }, 'b'), /invalid --node-name "a b"/);
});

import { desiredPeers, diffPeers, pickOverlaySubnet, pickVni, vxlanNameFor } from '../../src/plan/overlay-plan.js';
import type { Ipv4 } from '../../src/model/types.js';

test('overlay plan: subnets never overlap, VNIs from 4096, peers diffed', () => {
  assert.equal(pickOverlaySubnet(undefined, []), '10.0.1.0/24');
  assert.equal(pickOverlaySubnet(undefined, [{ name: 'a', subnet: '10.0.1.0/24' }, { name: 'b', subnet: '10.0.2.0/23' }]), '10.0.4.0/24');
  assert.throws(() => pickOverlaySubnet('10.0.1.128/25' as never, [{ name: 'ov1', subnet: '10.0.1.0/24' }]), /overlaps network ov1 \(10\.0\.1\.0\/24\)/);
  assert.equal(pickVni([]), 4096);
  assert.equal(pickVni([4096, 4098]), 4097);
  const ep = (ip: string, host: string, vtep: string) => ({ networkId: 'abcdef0123456', ip: ip as Ipv4, mac: `02:42:${ip}`, host, vtep: vtep as Ipv4, sandboxId: ip, name: ip, aliases: [] });
  const eps = [ep('10.0.1.2', 'h1', '10.99.0.21'), ep('10.0.1.3', 'h2', '10.99.0.22'), ep('10.0.1.4', 'h2', '10.99.0.22')];
  const want = desiredPeers(eps, 'h1', new Set(['abcdef0123456']));
  assert.deepEqual(want.map((p) => p.ip), ['10.0.1.3', '10.0.1.4']);
  assert.equal(want[0]!.vxlan, vxlanNameFor('abcdef0123456'));
  assert.deepEqual(desiredPeers(eps, 'h1', new Set()), []);
  const moved = desiredPeers([eps[0]!, eps[1]!, ep('10.0.1.4', 'h3', '10.99.0.23')], 'h1', new Set(['abcdef0123456']));
  const d = diffPeers(want, moved);
  assert.deepEqual(d.del.map((p) => p.vtep), ['10.99.0.22']);
  assert.deepEqual(d.add.map((p) => p.vtep), ['10.99.0.23']);
  assert.deepEqual(diffPeers(want, want), { del: [], add: [] });
});
