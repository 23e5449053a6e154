// The API's schemas: what a handler gets from a body, and the message a bad one gets (naming the
// field). The e2e suites 165 and 350 send the same through a live berthd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { createNetworkBody, connectBody } from '../../src/daemon/schema/network-schemas.js';
import { createQuery, createSandboxBody, stopQuery } from '../../src/daemon/schema/container-schemas.js';
import { describeIssue } from '../../src/daemon/schema/issues.js';

function message(schema: z.ZodType, input: unknown, kind = ''): string {
  const r = schema.safeParse(input, { reportInput: true });
  assert.equal(r.success, false, `accepted ${JSON.stringify(input)}`);
  return describeIssue(r.error!.issues[0]!, kind);
}

test('wrong types name the field', () => {
  assert.equal(message(createNetworkBody, { Name: ['x'] }), 'invalid Name: expected a string, got an array');
  assert.equal(message(createNetworkBody, { Name: null }), 'invalid Name: expected a string, got null');
  assert.equal(message(createNetworkBody, { Name: 'n', Internal: 'false' }), 'invalid Internal: expected a boolean, got a string');
  assert.equal(message(createNetworkBody, null), 'invalid request body: expected an object, got null');
  assert.equal(message(createNetworkBody, { Name: 'n', IPAM: { Config: [{ Subnet: 10 }] } }), 'invalid IPAM.Config[0].Subnet: expected a string, got a number');
  assert.equal(message(connectBody, { Container: 'a\nb' }), 'invalid Container: control characters are not allowed');
  assert.equal(message(createNetworkBody, { Name: 'n', Labels: { 'a\nb': 'c' } }), 'invalid Labels: key "a\\nb": control characters are not allowed');
  assert.equal(message(stopQuery, { t: '-1' }, 'query parameter'), 'invalid query parameter t: give whole seconds from 0 to 2147483');
});

test("berth's parse functions run inside the schemas, with their own (Docker) messages", () => {
  assert.equal(message(createNetworkBody, { Name: 'a b' }), 'Invalid network name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed');
  assert.equal(message(createNetworkBody, { Name: 'n', Driver: 'macvlan' }), 'plugin "macvlan" not found: berth supports the bridge, p2p and overlay drivers');
  assert.equal(message(createQuery, { name: 'x;y' }), 'Invalid container name (x;y), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed');
  assert.equal(message(createSandboxBody, { Cmd: ['true'], HostConfig: { DnsSearch: ['\nnameserver'] } }), 'invalid HostConfig.DnsSearch[0]: control characters are not allowed');
  assert.equal(message(createSandboxBody, { Cmd: ['true'], HostConfig: { DnsSearch: ['a b'] } }), 'a b is not a valid domain');
  assert.match(message(createSandboxBody, { Cmd: ['true'], ExposedPorts: { '99999/tcp': {} } }), /invalid port "99999\/tcp"/);
});

test('handlers get parsed, normalised values', () => {
  const net = createNetworkBody.parse({ Name: 'n1', IPAM: { Config: [{ Subnet: '10.9.0.0/16', Gateway: '' }] }, Options: null });
  assert.equal(net.IPAM.Config[0]?.Subnet, '10.9.0.0/16');
  assert.equal(net.IPAM.Config[0]?.Gateway, undefined);
  assert.equal(net.Driver, 'bridge');
  assert.equal(net.Internal, false);
  assert.deepEqual(net.Options, {});
  const sb = createSandboxBody.parse({ Cmd: 'sleep', HostConfig: { DnsSearch: ['corp.example.'], Dns: ['::ffff:10.0.0.1'], ExtraHosts: ['db=10.0.0.2 '] } });
  assert.deepEqual(sb.Cmd, ['sleep']);
  assert.deepEqual(sb.HostConfig.DnsSearch, ['corp.example']);
  assert.deepEqual(sb.HostConfig.Dns, ['10.0.0.1']);
  assert.deepEqual(sb.HostConfig.ExtraHosts, [{ name: 'db', ip: '10.0.0.2' }]);
  assert.deepEqual(sb.ports, { exposed: [], requests: [] });
  assert.equal(stopQuery.parse({}).t, 10);
});
