// IPAM: pools, subnets, addresses. Pure; the same inputs always give the same answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocateAddress, defaultGateway, planSubnet } from '../../src/ipam/allocator.js';
import { DEFAULT_POOLS, nextFreeSubnet, parsePoolFlag } from '../../src/ipam/pools.js';
import { parseCidr } from '../../src/ipam/ipv4.js';
import { BerthError } from '../../src/model/errors.js';
import { fixture } from './brands.js';
import type { Ipv4 } from '../../src/model/types.js';

const status = (fn: () => unknown): number => {
  try {
    fn();
  } catch (e) {
    return e instanceof BerthError ? e.status : -1;
  }
  return 0;
};

test('pools: the first free /16 after the default bridge is 172.18.0.0/16, as Docker', () => {
  assert.equal(nextFreeSubnet(DEFAULT_POOLS, [parseCidr('172.17.0.0/16')]), '172.18.0.0/16');
  assert.equal(nextFreeSubnet(DEFAULT_POOLS, []), '172.17.0.0/16');
});

test('pools: subnets overlapping a host route are skipped', () => {
  const used = [parseCidr('172.17.0.0/16'), parseCidr('172.18.5.0/24'), parseCidr('172.19.0.1/32')];
  assert.equal(nextFreeSubnet(DEFAULT_POOLS, used), '172.20.0.0/16');
});

test('pools: after 172.17-31 come 192.168.x.0/20 subnets, then a conflict', () => {
  const all172 = Array.from({ length: 15 }, (_, i) => parseCidr(`172.${17 + i}.0.0/16`));
  assert.equal(nextFreeSubnet(DEFAULT_POOLS, all172), '192.168.0.0/20');
  assert.equal(nextFreeSubnet(DEFAULT_POOLS, [...all172, parseCidr('192.168.0.0/20')]), '192.168.16.0/20');
  assert.equal(status(() => nextFreeSubnet(DEFAULT_POOLS, [...all172, parseCidr('192.168.0.0/16')])), 409);
});

test('pools: --default-address-pool base=CIDR,size=N', () => {
  assert.deepEqual(parsePoolFlag('base=10.10.0.0/16,size=24'), { base: '10.10.0.0/16', size: 24 });
  assert.equal(nextFreeSubnet([parsePoolFlag('base=10.10.0.0/16,size=24')], [parseCidr('10.10.0.0/24')]), '10.10.1.0/24');
  assert.equal(status(() => parsePoolFlag('base=10.10.0.0/16')), 400);
  assert.equal(status(() => parsePoolFlag('base=10.10.0.0/16,size=8')), 400);
});

test('subnets: host bits, gateway outside, ip-range outside are refused with a hint', () => {
  assert.throws(() => planSubnet('172.81.0.1/16', undefined, undefined), /host bits set; did you mean 172.81.0.0\/16/);
  assert.throws(() => planSubnet('172.81.0.0/16', '10.0.0.1', undefined), /not inside subnet/);
  assert.throws(() => planSubnet('172.81.0.0/16', undefined, '172.82.0.0/24'), /not inside subnet/);
  assert.throws(() => planSubnet('172.81.0.0/16', '172.81.0.0', undefined), /network or broadcast/);
  assert.throws(() => planSubnet('nonsense', undefined, undefined), /not an IPv4 CIDR/);
});

test('addresses: handed out in order, skipping network, gateway and used ones', () => {
  const plan = planSubnet('172.17.0.0/16', '172.17.0.1', undefined);
  assert.equal(allocateAddress(plan, new Set()), '172.17.0.2');
  assert.equal(allocateAddress(plan, new Set(['172.17.0.2'])), '172.17.0.3');
  assert.equal(allocateAddress(plan, new Set(['172.17.0.2', '172.17.0.4'])), '172.17.0.3');
  assert.equal(defaultGateway(plan), '172.17.0.1');
});

test('addresses: --ip-range limits dynamic addresses; --ip may be anywhere in the subnet', () => {
  const plan = planSubnet('172.81.0.0/16', '172.81.0.1', '172.81.5.0/24');
  assert.equal(allocateAddress(plan, new Set()), '172.81.5.1');
  assert.equal(allocateAddress(plan, new Set(), fixture<Ipv4>('172.81.0.50')), '172.81.0.50');
});

test('addresses: a taken or invalid --ip is refused; a full range is a conflict', () => {
  const plan = planSubnet('10.1.0.0/30', undefined, undefined);
  assert.equal(status(() => allocateAddress(plan, new Set(['10.1.0.1']), fixture<Ipv4>('10.1.0.1'))), 409);
  assert.equal(status(() => allocateAddress(plan, new Set(), fixture<Ipv4>('10.2.0.1'))), 400);
  assert.equal(status(() => allocateAddress(plan, new Set(), fixture<Ipv4>('10.1.0.3'))), 400);
  assert.equal(allocateAddress(plan, new Set(['10.1.0.1'])), '10.1.0.2');
  assert.equal(status(() => allocateAddress(plan, new Set(['10.1.0.1', '10.1.0.2']))), 409);
});

test('addresses: never the same address twice over a long sequence', () => {
  const plan = planSubnet('10.9.0.0/24', '10.9.0.1', undefined);
  const used = new Set<string>();
  for (let i = 0; i < 253; i++) {
    const ip = allocateAddress(plan, used);
    assert.ok(!used.has(ip));
    used.add(ip);
  }
  assert.equal(used.size, 253);
  assert.equal(status(() => allocateAddress(plan, used)), 409);
});
