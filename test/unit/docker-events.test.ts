// GET /events: the ring of past events (since/until), moby's filters, and the query schema's
// answers to bad input. e2e 455 asks the real docker CLI for the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus, eventMatches, type DockerEvent } from '../../src/daemon/docker/events.js';
import { eventsQuery } from '../../src/daemon/schema/misc-schemas.js';
import { describeIssue } from '../../src/daemon/schema/issues.js';

function bus(n = 1000): { b: EventBus; seen: DockerEvent[] } {
  const b = new EventBus(n);
  const seen: DockerEvent[] = [];
  b.subscribe((e) => seen.push(e));
  return { b, seen };
}

test('the ring keeps the newest events, in order, with distinct increasing timeNano', () => {
  const { b, seen } = bus(3);
  for (const a of ['create', 'start', 'die', 'destroy']) b.emit('container', a, 'c1', { name: 'web' });
  assert.equal(seen.length, 4);
  const past = b.past(0, Infinity);
  assert.deepEqual(past.map((e) => e.Action), ['start', 'die', 'destroy']);
  assert.ok(past[0]!.timeNano < past[1]!.timeNano && past[1]!.timeNano < past[2]!.timeNano);
  assert.deepEqual(b.past(past[1]!.timeNano, past[1]!.timeNano).map((e) => e.Action), ['die']);
  assert.deepEqual(b.past(past[2]!.timeNano + 1000, Infinity), []);
});

test('filters: type, event, container and network by id prefix or name, labels all must hold', () => {
  const { b } = bus();
  b.emit('container', 'start', 'abc123', { name: 'web', tier: 'front', image: 'busybox' });
  b.emit('network', 'connect', 'net999', { name: 'app', container: 'abc123', type: 'bridge' });
  b.emit('container', 'exec_start: sh -c true', 'abc123', { name: 'web' });
  const [start, connect, exec] = b.past(0, Infinity) as [DockerEvent, DockerEvent, DockerEvent];
  assert.ok(eventMatches(start, {}));
  assert.ok(eventMatches(start, { type: ['container'] }) && !eventMatches(connect, { type: ['container'] }));
  assert.ok(eventMatches(start, { event: ['die', 'start'] }) && !eventMatches(start, { event: ['die'] }));
  assert.ok(eventMatches(exec, { event: ['exec_start'] }));
  assert.ok(eventMatches(start, { container: ['abc'] }) && eventMatches(start, { container: ['web'] }));
  assert.ok(!eventMatches(start, { container: ['we'] }) && !eventMatches(connect, { container: ['abc'] }));
  assert.ok(eventMatches(connect, { network: ['app'] }) && !eventMatches(start, { network: ['app'] }));
  assert.ok(eventMatches(start, { label: ['tier=front', 'image'] }) && !eventMatches(start, { label: ['tier=front', 'x'] }));
});

test('the /events query: timestamps in seconds (with decimals) to ns, filters checked', () => {
  const q = eventsQuery.parse({ since: '1700000000', until: '1700000001.5', filters: '{"event":{"start":true},"type":["container"]}' });
  assert.equal(q.since, 1700000000e9);
  assert.equal(q.until, 1700000001.5e9);
  assert.deepEqual(q.filters, { event: ['start'], type: ['container'] });
  const none = eventsQuery.parse({});
  assert.equal(none.since, undefined);
  assert.equal(none.until, undefined);
  assert.deepEqual(none.filters, {});
  const msg = (input: Record<string, string>) => {
    const r = eventsQuery.safeParse(input, { reportInput: true });
    assert.equal(r.success, false, `accepted ${JSON.stringify(input)}`);
    return describeIssue(r.error!.issues[0]!, '');
  };
  assert.match(msg({ since: '10m' }), /invalid timestamp '10m'/);
  assert.match(msg({ filters: '{"colour":["red"]}' }), /invalid filter 'colour'/);
  assert.match(msg({ filters: '{"type":["boat"]}' }), /invalid filter 'type=boat'/);
  assert.match(msg({ filters: 'nope' }), /not valid JSON/);
});
