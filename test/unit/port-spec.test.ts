import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  exposedPorts,
  formatPortRequest,
  parseExpose,
  parsePortSpec,
  parsePortSpecs,
} from '../../src/model/port-spec.js';
import type { PortRequest } from '../../src/model/types.js';
import { fixture } from './brands.js';
import type { Ipv4 } from '../../src/model/types.js';

const req = (
  hostIp: string,
  hostPortStart: number,
  hostPortEnd: number,
  containerPortStart: number,
  containerPortEnd: number,
  proto: 'tcp' | 'udp' = 'tcp',
): PortRequest => ({ hostIp: fixture<Ipv4 | ''>(hostIp), hostPortStart, hostPortEnd, containerPortStart, containerPortEnd, proto });

test('-p forms: H:C, IP:H:C, IP::C, C, /udp, ranges', () => {
  assert.deepEqual(parsePortSpec('8080:80'), req('', 8080, 8080, 80, 80));
  assert.deepEqual(parsePortSpec('127.0.0.1:8081:80'), req('127.0.0.1', 8081, 8081, 80, 80));
  assert.deepEqual(parsePortSpec('127.0.0.1::80'), req('127.0.0.1', 0, 0, 80, 80));
  assert.deepEqual(parsePortSpec('80'), req('', 0, 0, 80, 80));
  assert.deepEqual(parsePortSpec('8082:53/udp'), req('', 8082, 8082, 53, 53, 'udp'));
  assert.deepEqual(parsePortSpec('53/UDP'), req('', 0, 0, 53, 53, 'udp'));
  assert.deepEqual(parsePortSpec('8000-8010:80-90'), req('', 8000, 8010, 80, 90));
  assert.deepEqual(parsePortSpec('8000-8010:80'), req('', 8000, 8010, 80, 80));
  assert.deepEqual(parsePortSpec('9000-9002'), req('', 0, 0, 9000, 9002));
  assert.deepEqual(parsePortSpec('0.0.0.0:8080:80/tcp'), req('0.0.0.0', 8080, 8080, 80, 80));
  assert.deepEqual(parsePortSpec('[::ffff:10.0.0.1]:1:2'.replace('[::ffff:10.0.0.1]', '10.0.0.1')), req('10.0.0.1', 1, 1, 2, 2));
});

test('-p errors: Docker 20.10 texts', () => {
  const cases: Array<[string, string]> = [
    ['8080:', 'No port specified: 8080:<empty>'],
    ['8080:x', 'Invalid containerPort: x'],
    ['8080:0', 'Invalid containerPort: 0'],
    ['8080:70000', 'Invalid containerPort: 70000'],
    ['x:80', 'Invalid hostPort: x'],
    ['90-80:80', 'Invalid hostPort: 90-80'],
    ['8000-8010:80-82', 'Invalid ranges specified for container and host Ports: 80-82 and 8000-8010'],
    ['8080:80/sctp', 'Invalid proto: sctp'],
    ['8080:80/icmp', 'Invalid proto: icmp'],
    ['1.2.3:8080:80', 'Invalid ip address: 1.2.3'],
    ['localhost:8080:80', 'Invalid ip address: localhost'],
  ];
  for (const [spec, message] of cases) assert.throws(() => parsePortSpec(spec), { message }, spec);
  assert.throws(() => parsePortSpec('[::1]:8080:80'), /Invalid ip address: ::1: berth publishes ports on IPv4 addresses only/);
  try {
    parsePortSpec('x:80');
  } catch (err) {
    assert.equal((err as { status: number }).status, 400);
  }
});

test('exact duplicate -p values count once; formatting round-trips', () => {
  assert.equal(parsePortSpecs(['8080:80', '8080:80/tcp', '8081:80']).length, 2);
  for (const s of ['8080:80/tcp', '127.0.0.1:8081:80/tcp', '127.0.0.1::80/tcp', '80/udp', '8000-8010:80-90/tcp', '8000-8010:80/tcp']) {
    assert.equal(formatPortRequest(parsePortSpec(s)), s);
  }
});

test('--expose: single, /udp, range; errors', () => {
  assert.deepEqual(parseExpose('80'), [{ port: 80, proto: 'tcp' }]);
  assert.deepEqual(parseExpose('53/udp'), [{ port: 53, proto: 'udp' }]);
  assert.deepEqual(parseExpose('8000-8002'), [
    { port: 8000, proto: 'tcp' },
    { port: 8001, proto: 'tcp' },
    { port: 8002, proto: 'tcp' },
  ]);
  assert.throws(() => parseExpose('80-x'), {
    message: 'invalid range format for --expose: 80-x, error: strconv.ParseUint: parsing "x": invalid syntax',
  });
  assert.throws(() => parseExpose('90-80'), /invalid range format for --expose: 90-80, error: Invalid range specified for the Port: 90-80/);
  assert.throws(() => parseExpose('80/sctp'), { message: 'Invalid proto: sctp' });
});

test('exposed ports include the container side of -p, sorted, without duplicates', () => {
  assert.deepEqual(exposedPorts(['9000/udp', '80'], [parsePortSpec('8080:80'), parsePortSpec('5353:53/udp')]), [
    { port: 53, proto: 'udp' },
    { port: 80, proto: 'tcp' },
    { port: 9000, proto: 'udp' },
  ]);
});
