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
