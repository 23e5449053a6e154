// Branded types: a plain string does not compile where an address, subnet, interface name or
// domain is expected (the @ts-expect-error lines fail the build if that ever stops being true),
// and the parse functions are the way in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildResolvConf } from '../../src/model/resolv-conf.js';
import { validateDnsSearch } from '../../src/model/dns-options.js';
import { parseCidrText, parseIfName, parseIpv4 } from '../../src/model/net-values.js';
import { bridgeCreateBatch } from '../../src/plan/link-plan.js';
import { deleteLink } from '../../src/kernel/links.js';

test('unchecked strings do not reach ip batches, kernel helpers or resolv.conf', () => {
  const name = 'berth-x; reboot';
  // @ts-expect-error a string is not an IfName / Ipv4
  assert.ok(() => bridgeCreateBatch(name, '10.0.0.1', 24, 1500));
  // @ts-expect-error a string is not an IfName
  assert.ok(() => deleteLink(name));
  const search = '\nnameserver';
  // @ts-expect-error a string is not a DomainName
  assert.ok(() => buildResolvConf([], [search], []));
  assert.throws(() => validateDnsSearch(search), /not a valid domain/);
});

test('parse functions give the branded values, canonical', () => {
  assert.equal(parseCidrText('10.1.0.0/16', 'subnet', true), '10.1.0.0/16');
  assert.throws(() => parseCidrText('10.1.0.1/16', 'subnet', true), /host bits set; did you mean 10\.1\.0\.0\/16/);
  assert.throws(() => parseCidrText('010.1.0.0/16'), /not an IPv4 CIDR/);
  assert.throws(() => parseIpv4('1.2.3.4\n'), /not an IPv4 address/);
  assert.throws(() => parseIfName('br0;x'), /invalid interface name/);
  assert.throws(() => parseIfName('a'.repeat(16)), /at most 15/);
  assert.deepEqual(bridgeCreateBatch(parseIfName('br1'), parseIpv4('10.0.0.1'), 24, 1500), [
    'link add name br1 mtu 1500 type bridge',
    'addr add 10.0.0.1/24 dev br1',
    'link set br1 up',
  ]);
});
