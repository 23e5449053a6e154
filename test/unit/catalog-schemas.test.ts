import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReadQuery, registerSchema, registrationRecord, InvalidRegistration } from '../../src/catalog/schemas.js';
import { formatGoDuration, parseGoDuration } from '../../src/model/duration.js';

test('durations: Go forms', () => {
  assert.equal(parseGoDuration('30s'), 30_000);
  assert.equal(parseGoDuration('5m'), 300_000);
  assert.equal(parseGoDuration('60000ms'), 60_000);
  assert.equal(parseGoDuration('1m30s'), 90_000);
  assert.equal(parseGoDuration('1.5s'), 1500);
  assert.equal(parseGoDuration('0'), 0);
  for (const bad of ['', '10', 's', '10x', '-1s', '1s ']) assert.equal(parseGoDuration(bad), undefined, bad);
  assert.equal(formatGoDuration(90_000), '1m30s');
  assert.equal(formatGoDuration(250), '250ms');
});

test('register: keys in any case and snake_case; ID defaults to Name; checks parsed', () => {
  const body = { name: 'db', Address: '10.0.0.5', port: 5432, TAGS: ['primary'], meta: { Owner_Team: 'x' }, check: { tcp: '10.0.0.5:5432', interval: '10s', timeout: '1s', deregister_critical_service_after: '1m' } };
  const rec = registrationRecord(registerSchema.parse(body), 't');
  assert.equal(rec.id, 'db');
  assert.deepEqual(rec.tags, ['primary']);
  assert.deepEqual(rec.meta, { Owner_Team: 'x' }, 'Meta keys keep their case');
  assert.deepEqual(rec.checks, [{ id: 'service:db', name: "Service 'db' check", kind: 'tcp', target: '10.0.0.5:5432', method: 'GET', intervalMs: 10_000, timeoutMs: 1000, deregisterAfterMs: 60_000, initialStatus: 'critical', notes: '' }]);
  const two = registrationRecord(registerSchema.parse({ Name: 'web', ID: 'web-a', Checks: [{ HTTP: 'http://10.0.0.7:80/health', Interval: '5s' }, { TCP: 'db.example:80', Interval: '5s', Status: 'passing' }] }), 't');
  assert.deepEqual(two.checks.map((c) => [c.id, c.kind, c.initialStatus]), [['service:web-a:1', 'http', 'critical'], ['service:web-a:2', 'tcp', 'passing']]);
});

test('register: wrong types and unsupported checks are refused with the field named', () => {
  const fail = (body: unknown) => registerSchema.safeParse(body);
  assert.equal(fail({ Name: 'db', Port: '5432' }).success, false);
  assert.equal(fail({ Port: 1 }).success, false, 'Name is required');
  assert.equal(fail({ Name: 'a b' }).success, false);
  assert.equal(fail({ Name: 'db', name: 'db2' }).success, false, 'one key twice');
  assert.equal(fail({ Name: 'db', Check: { TCP: 'x:1', Interval: 'soon' } }).success, false);
  const rec = (b: unknown) => () => registrationRecord(registerSchema.parse(b), 't');
  assert.throws(rec({ Name: 'db', Check: { TTL: '10s' } }), InvalidRegistration);
  assert.throws(rec({ Name: 'db', Check: { TCP: '10.0.0.5:5432' } }), /must include an Interval/);
  assert.throws(rec({ Name: 'db', Check: { TCP: '10.0.0.5', Interval: '1s' } }), /HOST:PORT/);
  assert.throws(rec({ Name: 'db', Check: { HTTP: 'ftp://x/', Interval: '1s' } }), /http:\/\//);
  assert.throws(rec({ Name: 'db', Address: 'no spaces allowed' }), /Invalid Address/);
});

test('read query: index, wait (default 5m, at most 10m), passing bare or =true/=1, tags', () => {
  assert.deepEqual(parseReadQuery(new URLSearchParams('')), { index: 0, waitMs: 300_000, passing: false, tags: [], dc: undefined });
  assert.deepEqual(parseReadQuery(new URLSearchParams('passing&index=42&wait=60000ms&tag=a&tag=b')), { index: 42, waitMs: 60_000, passing: true, tags: ['a', 'b'], dc: undefined });
  assert.equal(parseReadQuery(new URLSearchParams('passing=true')).passing, true);
  assert.equal(parseReadQuery(new URLSearchParams('passing=1')).passing, true);
  assert.equal(parseReadQuery(new URLSearchParams('passing=false')).passing, false);
  assert.equal(parseReadQuery(new URLSearchParams('wait=1h')).waitMs, 600_000);
  assert.throws(() => parseReadQuery(new URLSearchParams('wait=10')), /Invalid wait time/);
  assert.throws(() => parseReadQuery(new URLSearchParams('index=-1')));
  assert.throws(() => parseReadQuery(new URLSearchParams('passing=maybe')));
});
