import { parseIpv4 } from '../../src/model/net-values.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExtraHost, parseExtraHosts, resolveExtraHost } from '../../src/model/extra-hosts.js';
import { BadRequest } from '../../src/model/errors.js';

test('add-host: name:ip, IPv6 split on the first colon, host-gateway, name=ip', () => {
  assert.deepEqual(parseExtraHost('consul.local:169.254.32.1'), { name: 'consul.local', ip: '169.254.32.1' });
  assert.deepEqual(parseExtraHost('v6:2001:db8::1'), { name: 'v6', ip: '2001:db8::1' });
  assert.deepEqual(parseExtraHost('v6b:[2001:db8::2]'), { name: 'v6b', ip: '2001:db8::2' });
  assert.deepEqual(parseExtraHost('host.internal:host-gateway'), { name: 'host.internal', ip: 'host-gateway' });
  assert.deepEqual(parseExtraHost('eq=10.0.0.1'), { name: 'eq', ip: '10.0.0.1' });
});

test("add-host: Docker's messages for bad input", () => {
  const msg = (v: string) => {
    try {
      parseExtraHost(v);
    } catch (e) {
      assert.ok(e instanceof BadRequest);
      assert.equal(e.status, 400);
      return e.message;
    }
    return 'accepted';
  };
  assert.equal(msg('bad'), 'bad format for add-host: "bad"');
  assert.equal(msg(':1.2.3.4'), 'bad format for add-host: ":1.2.3.4"');
  assert.equal(msg('x:1.2.3'), 'invalid IP address in add-host: "1.2.3"');
  assert.equal(msg('x:010.0.0.1'), 'invalid IP address in add-host: "010.0.0.1"');
  assert.equal(msg('x:'), 'invalid IP address in add-host: ""');
  // a name that would inject a line into /etc/hosts
  assert.equal(msg('a b:1.2.3.4'), 'bad format for add-host: "a b:1.2.3.4"');
  assert.equal(msg('a\nb:1.2.3.4'), 'bad format for add-host: "a\\nb:1.2.3.4"');
});

test('add-host: order and duplicates kept; host-gateway resolved', () => {
  const hs = parseExtraHosts(['multi:10.0.0.1', 'multi:10.0.0.2', 'gw:host-gateway']);
  assert.deepEqual(hs.map((h) => resolveExtraHost(h, parseIpv4('172.18.0.1'))), ['10.0.0.1', '10.0.0.2', '172.18.0.1']);
  assert.equal(resolveExtraHost(hs[2]!, undefined), undefined);
});
