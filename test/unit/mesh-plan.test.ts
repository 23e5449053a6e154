// The routing mesh's return path inside a replica (plan/mesh-plan.ts, link-plan meshRouteBatch),
// compared with golden files (regenerate with UPDATE_GOLDEN=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { meshMark, meshReturnNft, meshRoutes, type MeshPeer } from '../../src/plan/mesh-plan.js';
import { meshRouteBatch } from '../../src/plan/link-plan.js';
import { hostBridgeMac } from '../../src/plan/overlay-plan.js';
import { parseIfName as ifn, parseIpv4 as ip } from '../../src/model/net-values.js';

const dir = fileURLToPath(new URL('../../../test/unit/golden/mesh/', import.meta.url));

function golden(name: string, text: string): void {
  const path = dir + name;
  if (process.env['UPDATE_GOLDEN']) writeFileSync(path, text);
  assert.equal(text, readFileSync(path, 'utf8'));
}

const peers: MeshPeer[] = [
  { node: 'h3', mac: hostBridgeMac(ip('10.99.0.23')), meshIp: ip('10.72.0.4') },
  { node: 'h1', mac: hostBridgeMac(ip('10.99.0.21')), meshIp: ip('10.72.0.2') },
];

test('a host bridge MAC is 02:4d + its underlay address; a mark is 0x4d000000 + the low 24 bits of the mesh address', () => {
  assert.equal(hostBridgeMac(ip('10.99.0.21')), '02:4d:0a:63:00:15');
  assert.equal(meshMark(ip('10.72.0.4')), 0x4d480004);
});

test('golden: the replica table for two other hosts, and none', () => {
  golden('replica,peers=2.nft', meshReturnNft(peers));
  golden('replica,peers=0.nft', meshReturnNft([]));
  assert.throws(() => meshReturnNft([{ node: 'x', mac: 'zz; flush ruleset', meshIp: ip('10.72.0.9') }]), /refusing to put MAC/);
});

test('golden: rules and routes added, one host gone, kept rules not added twice', () => {
  const routes = meshRoutes(peers, ifn('eth0'));
  golden('routes,fresh.batch', meshRouteBatch([], routes, new Set()).join('\n') + '\n');
  const h1 = meshMark(ip('10.72.0.2'));
  const gone = meshMark(ip('10.72.0.3'));
  golden('routes,one-gone.batch', meshRouteBatch([gone], routes, new Set([h1, gone])).join('\n') + '\n');
});
