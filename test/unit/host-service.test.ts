import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostService, parseHostService, parseHostServices } from '../../src/model/host-service.js';

test('host service: full and short forms', () => {
  assert.deepEqual(parseHostService('consul.local=169.254.32.1:80->8500'), {
    name: 'consul.local',
    ip: '169.254.32.1',
    port: 80,
    hostIp: '127.0.0.1',
    hostPort: 8500,
    proto: 'tcp',
  });
  const s = parseHostService('DNS.Local=169.254.32.53:53->10.0.0.5:5353/udp');
  assert.equal(formatHostService(s), 'dns.local=169.254.32.53:53->10.0.0.5:5353/udp');
});

test('host service: addresses outside 169.254.0.0/16 refused with a clear message', () => {
  assert.throws(() => parseHostService('consul=10.0.0.1:80->8500'), {
    message:
      'invalid host service "consul=10.0.0.1:80->8500": 10.0.0.1 is not a link-local address; use one in 169.254.0.0/16 (for example 169.254.32.1), which sandboxes reach only through the host',
  });
  assert.throws(() => parseHostService('c=169.254.0.7:80->8500'), /reserved part of 169.254.0.0\/16/);
  assert.throws(() => parseHostService('c=169.254.255.1:80->8500'), /reserved part/);
  assert.throws(() => parseHostService('c=169.254.1.300:80->8500'), /not an IPv4 address/);
});

test('host service: bad syntax, ports, names', () => {
  assert.throws(() => parseHostService('consul'), /expected NAME=169.254.X.Y:PORT->/);
  assert.throws(() => parseHostService('consul=169.254.32.1:0->8500'), /port 0 is not a port number/);
  assert.throws(() => parseHostService('consul=169.254.32.1:80->70000'), /host port 70000 is not a port number/);
  assert.throws(() => parseHostService('bad_name=169.254.32.1:80->8500'), /name "bad_name" is not a valid DNS name/);
  assert.throws(() => parseHostService('c=169.254.32.1:80->8500/sctp'), /expected NAME/);
});

test('host services: duplicates refused, one name may have several ports', () => {
  const ok = parseHostServices(['c=169.254.32.1:80->8500', 'c=169.254.32.1:8300->8300']);
  assert.equal(ok.length, 2);
  assert.throws(() => parseHostServices(['a=169.254.32.1:80->1', 'b=169.254.32.1:80->2']), /169.254.32.1:80\/tcp is used twice/);
  assert.throws(() => parseHostServices(['a=169.254.32.1:80->1', 'a=169.254.32.2:80->2']), /given two addresses/);
});
