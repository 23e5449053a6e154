// The batches that program a remote endpoint's FDB and neighbour entries on an overlay's VXLAN
// device: one `bridge -batch` / `ip -batch` run for any number of entries, or (with the netlink
// helper) one request of ops, compared with golden files (test/unit/golden/links/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { peerFdbBatch, peerNeighBatch, peerOps, type PeerLine } from '../../src/plan/link-plan.js';
import { parseIfName as ifn, parseIpv4 as ip } from '../../src/model/net-values.js';

const a: PeerLine = { vxlan: ifn('bvx-4a5b6c7d8e'), ip: ip('10.0.9.5'), mac: '02:42:0a:00:09:05', vtep: ip('10.99.0.21') };
const b: PeerLine = { vxlan: ifn('bvx-4a5b6c7d8e'), ip: ip('10.0.9.6'), mac: '02:42:0a:00:09:06', vtep: ip('10.99.0.22') };

test('additions: permanent FDB entries to the VTEP, permanent neighbours', () => {
  assert.deepEqual(
    [...peerFdbBatch('replace', [a, b])],
    ['fdb replace 02:42:0a:00:09:05 dev bvx-4a5b6c7d8e dst 10.99.0.21 self permanent', 'fdb replace 02:42:0a:00:09:06 dev bvx-4a5b6c7d8e dst 10.99.0.22 self permanent'],
  );
  assert.deepEqual([...peerNeighBatch('replace', [a])], ['neigh replace 10.0.9.5 lladdr 02:42:0a:00:09:05 dev bvx-4a5b6c7d8e nud permanent']);
});

test('removals: FDB del, neighbour flush of the one address (a missing one ends no batch)', () => {
  assert.deepEqual([...peerFdbBatch('del', [b])], ['fdb del 02:42:0a:00:09:06 dev bvx-4a5b6c7d8e dst 10.99.0.22 self']);
  assert.deepEqual([...peerNeighBatch('del', [a, b])], ['neigh flush to 10.0.9.5 dev bvx-4a5b6c7d8e nud permanent', 'neigh flush to 10.0.9.6 dev bvx-4a5b6c7d8e nud permanent']);
  assert.equal(peerNeighBatch('del', []).length, 0);
});

test('a value that is not what it claims to be never reaches a batch', () => {
  assert.throws(() => peerFdbBatch('replace', [{ ...a, mac: '02:42:0a:00:09:05 dev lo' }]), /refusing/);
  assert.throws(() => peerNeighBatch('del', [{ ...a, ip: '10.0.9.5/0' as never }]), /refusing/);
  assert.throws(() => peerNeighBatch('replace', [{ ...a, vxlan: 'vx0; reboot' as never }]), /refusing/);
});

const dir = fileURLToPath(new URL('../../../test/unit/golden/links/', import.meta.url));
function golden(name: string, lines: readonly string[]): void {
  const text = lines.join('\n') + '\n';
  if (process.env['UPDATE_GOLDEN']) writeFileSync(dir + name, text);
  assert.equal(text, readFileSync(dir + name, 'utf8'));
}

test('through the netlink helper: one request per direction, FDB entry then neighbour per endpoint', () => {
  golden('overlay-peers,add.ops', peerOps('replace', [a, b]));
  golden('overlay-peers,del.ops', peerOps('del', [a, b]));
  assert.equal(peerOps('del', []).length, 0);
});

test('a value that would split the helper\'s words or requests never reaches it', () => {
  assert.throws(() => peerOps('replace', [{ ...a, mac: '02:42:0a:00:09:05 fdbdel' }]), /refusing to put MAC/);
  assert.throws(() => peerOps('replace', [{ ...a, vtep: '10.99.0.21\tnsdel /etc' as never }]), /refusing to put address/);
  assert.throws(() => peerOps('del', [{ ...a, ip: '10.0.9.5 x' as never }]), /refusing to put address/);
  assert.throws(() => peerOps('del', [{ ...a, vxlan: 'bvx\n1\tdel eth0' as never }]), /refusing to put interface name/);
});
