import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocateHostPorts, formatBindings, type AllocateInput } from '../../src/ipam/host-ports.js';
import { parsePortSpecs } from '../../src/model/port-spec.js';
import type { PortBinding } from '../../src/model/types.js';
import { fixture } from './brands.js';
import type { Ipv4 } from '../../src/model/types.js';

const base = (o: Partial<AllocateInput> = {}): AllocateInput => ({
  requests: [],
  exposed: [],
  publishAll: false,
  taken: [],
  listeners: [],
  ephemeral: { start: 32768, end: 60999 },
  defaultBindIp: fixture<Ipv4>('0.0.0.0'),
  ...o,
});
const p = (...specs: string[]) => parsePortSpecs(specs);
const b = (hostPort: number, containerPort: number, proto: 'tcp' | 'udp' = 'tcp', hostIp = '0.0.0.0'): PortBinding => ({
  hostIp: fixture<Ipv4>(hostIp),
  hostPort,
  containerPort,
  proto,
});

test('fixed ports, addresses, udp and one-to-one ranges', () => {
  const r = allocateHostPorts(base({ requests: p('8080:80', '127.0.0.1:8081:80', '8082:53/udp', '9000-9002:9000-9002') }));
  assert.deepEqual(r.bindings, [
    b(8080, 80),
    b(8081, 80, 'tcp', '127.0.0.1'),
    b(8082, 53, 'udp'),
    b(9000, 9000),
    b(9001, 9001),
    b(9002, 9002),
  ]);
  assert.deepEqual(formatBindings(r.bindings).slice(0, 3), ['53/udp -> 0.0.0.0:8082', '80/tcp -> 0.0.0.0:8080', '80/tcp -> 127.0.0.1:8081']);
});

test('the default bind address applies to requests without one', () => {
  const r = allocateHostPorts(base({ requests: p('8080:80', '10.0.0.5:8081:80'), defaultBindIp: fixture<Ipv4>('10.99.0.1') }));
  assert.deepEqual(r.bindings, [b(8080, 80, 'tcp', '10.99.0.1'), b(8081, 80, 'tcp', '10.0.0.5')]);
});

test('-p C and -P take the first free ephemeral ports, per protocol (Docker: 80/tcp and 9000/udp both get 32768)', () => {
  const r = allocateHostPorts(
    base({
      exposed: [
        { port: 80, proto: 'tcp' },
        { port: 9000, proto: 'udp' },
        { port: 443, proto: 'tcp' },
      ],
      publishAll: true,
      taken: [b(32768, 1)],
    }),
  );
  assert.deepEqual(r.bindings, [b(32769, 80), b(32768, 9000, 'udp'), b(32770, 443)]);
  const c = allocateHostPorts(base({ requests: p('80', '127.0.0.1::81') }));
  assert.deepEqual(c.bindings, [b(32768, 80), b(32769, 81, 'tcp', '127.0.0.1')]);
});

test('-P skips exposed ports that -p already publishes', () => {
  const r = allocateHostPorts(
    base({ requests: p('8080:80'), exposed: [{ port: 80, proto: 'tcp' }, { port: 81, proto: 'tcp' }], publishAll: true }),
  );
  assert.deepEqual(r.bindings, [b(8080, 80), b(32768, 81)]);
});

test('H1-H2:C takes the first free port of the range; explicit ports are claimed before dynamic ones', () => {
  const r = allocateHostPorts(base({ requests: p('8000-8002:80', '8000:81'), taken: [b(8001, 5)] }));
  assert.deepEqual(r.bindings, [b(8002, 80), b(8000, 81)]);
  assert.throws(() => allocateHostPorts(base({ requests: p('8000-8001:80'), taken: [b(8000, 1), b(8001, 2)] })), {
    message: 'Bind for 0.0.0.0:8000-8001 failed: every port of the range is already allocated',
  });
});

test('a port held by another mapping is refused with Docker\'s message (409)', () => {
  const taken = [b(8080, 80)];
  assert.throws(() => allocateHostPorts(base({ requests: p('8080:80'), taken })), {
    message: 'Bind for 0.0.0.0:8080 failed: port is already allocated',
    status: 409,
  } as object);
  // 0.0.0.0 overlaps every address; two different addresses do not overlap
  assert.throws(() => allocateHostPorts(base({ requests: p('127.0.0.1:8080:80'), taken })), /Bind for 127.0.0.1:8080 failed/);
  assert.doesNotThrow(() => allocateHostPorts(base({ requests: p('127.0.0.1:8080:80'), taken: [b(8080, 80, 'tcp', '10.0.0.1')] })));
  assert.throws(() => allocateHostPorts(base({ requests: p('8080:80'), taken: [b(8080, 80, 'tcp', '10.0.0.1')] })), /already allocated/);
  // other protocol: free
  assert.doesNotThrow(() => allocateHostPorts(base({ requests: p('8080:80/udp'), taken })));
  // inside one request set
  assert.throws(() => allocateHostPorts(base({ requests: p('8080:80', '8080:81') })), /Bind for 0.0.0.0:8080 failed: port is already allocated/);
});

test('a port a host process listens on is refused, naming the listener', () => {
  const listeners = [{ proto: 'tcp' as const, ip: fixture<Ipv4>('127.0.0.1'), port: 8080 }];
  assert.throws(() => allocateHostPorts(base({ requests: p('8080:80'), listeners })), {
    message: 'Bind for 0.0.0.0:8080 failed: port is already in use by a process on the host (listening on 127.0.0.1:8080/tcp)',
  });
  assert.doesNotThrow(() => allocateHostPorts(base({ requests: p('10.0.0.1:8080:80'), listeners })));
  // dynamic allocation steps over listeners
  const r = allocateHostPorts(base({ requests: p('80'), listeners: [{ proto: 'tcp', ip: fixture<Ipv4>('0.0.0.0'), port: 32768 }] }));
  assert.deepEqual(r.bindings, [b(32769, 80)]);
});

test('an exhausted ephemeral range says so', () => {
  assert.throws(() => allocateHostPorts(base({ requests: p('80'), ephemeral: { start: 40000, end: 40001 }, taken: [b(40000, 1), b(40001, 2)] })), {
    message: 'Bind for 0.0.0.0:80/tcp failed: all ports are allocated',
  });
});

test('internal-only sandboxes publish nothing, with a warning; no request, no warning', () => {
  const r = allocateHostPorts(base({ requests: p('8080:80'), internal: true }));
  assert.deepEqual(r.bindings, []);
  assert.match(r.warnings[0] ?? '', /discarded/);
  assert.deepEqual(allocateHostPorts(base({ internal: true })).warnings, []);
});

test('a restarted sandbox gets its previous dynamic ports back when they are free', () => {
  const r = allocateHostPorts(base({ requests: p('80'), previous: [b(40000, 80)] }));
  assert.deepEqual(r.bindings, [b(40000, 80)]);
  const s = allocateHostPorts(base({ requests: p('80'), previous: [b(40000, 80)], taken: [b(40000, 9)] }));
  assert.deepEqual(s.bindings, [b(32768, 80)]);
});
