import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkEnv } from '../../src/model/link-env.js';
import { fixture } from './brands.js';
import type { Ipv4 } from '../../src/model/types.js';

// Golden output from the Docker oracle, scenario (d): client --link web:webalias --link db.
test('link env: web:webalias with 80/tcp and 53/udp and env (oracle §3 d)', () => {
  const env = linkEnv({
    parentName: 'client',
    alias: 'webalias',
    childIp: fixture<Ipv4>('172.17.0.2'),
    childPorts: [
      { port: 80, proto: 'tcp' },
      { port: 53, proto: 'udp' },
    ],
    childEnv: ['PATH=/usr/bin', 'FOO=bar', 'MULTI=a=b', 'HOME=/root', 'NOEQUALS'],
  });
  assert.deepEqual([...env].sort(), [
    'WEBALIAS_ENV_FOO=bar',
    'WEBALIAS_ENV_MULTI=a=b',
    'WEBALIAS_NAME=/client/webalias',
    'WEBALIAS_PORT=udp://172.17.0.2:53',
    'WEBALIAS_PORT_53_UDP=udp://172.17.0.2:53',
    'WEBALIAS_PORT_53_UDP_ADDR=172.17.0.2',
    'WEBALIAS_PORT_53_UDP_PORT=53',
    'WEBALIAS_PORT_53_UDP_PROTO=udp',
    'WEBALIAS_PORT_80_TCP=tcp://172.17.0.2:80',
    'WEBALIAS_PORT_80_TCP_ADDR=172.17.0.2',
    'WEBALIAS_PORT_80_TCP_PORT=80',
    'WEBALIAS_PORT_80_TCP_PROTO=tcp',
  ]);
});

test('link env: db (alias = name), one port, exact order', () => {
  assert.deepEqual(linkEnv({ parentName: '/client', alias: 'db', childIp: fixture<Ipv4>('172.17.0.3'), childPorts: [{ port: 5432, proto: 'tcp' }], childEnv: [] }), [
    'DB_PORT=tcp://172.17.0.3:5432',
    'DB_PORT_5432_TCP=tcp://172.17.0.3:5432',
    'DB_PORT_5432_TCP_ADDR=172.17.0.3',
    'DB_PORT_5432_TCP_PORT=5432',
    'DB_PORT_5432_TCP_PROTO=tcp',
    'DB_NAME=/client/db',
  ]);
});

test('link env: scenario S15 alias ng2 with dashes upper-cased', () => {
  const env = linkEnv({ parentName: 'c', alias: 'my-ng2', childIp: fixture<Ipv4>('10.0.0.2'), childPorts: [{ port: 80, proto: 'tcp' }], childEnv: [] });
  assert.ok(env.includes('MY_NG2_PORT_80_TCP=tcp://10.0.0.2:80'));
  assert.ok(env.includes('MY_NG2_NAME=/c/my-ng2'));
});

test('link env: no ports gives only NAME', () => {
  assert.deepEqual(linkEnv({ parentName: 'c', alias: 'x', childIp: fixture<Ipv4>('10.0.0.2'), childPorts: [], childEnv: [] }), ['X_NAME=/c/x']);
});

test('link env: a contiguous run gets Docker range variables', () => {
  const env = linkEnv({
    parentName: 'c',
    alias: 'r',
    childIp: fixture<Ipv4>('10.0.0.9'),
    childPorts: [9002, 9000, 9001].map((port) => ({ port, proto: 'tcp' as const })),
    childEnv: [],
  });
  assert.deepEqual(env.slice(0, 7), [
    'R_PORT=tcp://10.0.0.9:9000',
    'R_PORT_9000_TCP_START=tcp://10.0.0.9:9000',
    'R_PORT_9000_TCP_ADDR=10.0.0.9',
    'R_PORT_9000_TCP_PROTO=tcp',
    'R_PORT_9000_TCP_PORT_START=9000',
    'R_PORT_9000_TCP_END=tcp://10.0.0.9:9002',
    'R_PORT_9000_TCP_PORT_END=9002',
  ]);
  assert.equal(env.filter((e) => /^R_PORT_900\d_TCP=/.test(e)).length, 3);
});
