// Placement of the replicas of services across hosts (plan/placement.ts): spread, constraints,
// no churn, a dead node's slots moved, scale down.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowedOn, place, sameAssignment } from '../../src/plan/placement.js';

const svc = (id: string, replicas: number, constraints: string[] = []) => ({ id, replicas, constraints });

test('spread: one replica per node, then the least loaded', () => {
  const out = place([svc('a', 3)], ['h2', 'h1', 'h3'], new Map());
  assert.deepEqual(out.get('a'), { 1: 'h1', 2: 'h2', 3: 'h3' });
  const five = place([svc('a', 5)], ['h1', 'h2', 'h3'], new Map());
  assert.deepEqual(five.get('a'), { 1: 'h1', 2: 'h2', 3: 'h3', 4: 'h1', 5: 'h2' });
});

test('a second service fills the nodes the first left lighter', () => {
  const out = place([svc('a', 2), svc('b', 1)], ['h1', 'h2', 'h3'], new Map());
  assert.deepEqual(out.get('a'), { 1: 'h1', 2: 'h2' });
  assert.deepEqual(out.get('b'), { 1: 'h3' });
});

test('constraints pin (==) and exclude (!=); nothing placed when no node may take it', () => {
  assert.deepEqual(place([svc('a', 2, ['node.name==h3'])], ['h1', 'h2', 'h3'], new Map()).get('a'), { 1: 'h3', 2: 'h3' });
  assert.deepEqual(place([svc('a', 2, ['node.name!=h1'])], ['h1', 'h2', 'h3'], new Map()).get('a'), { 1: 'h2', 2: 'h3' });
  assert.deepEqual(place([svc('a', 2, ['node.name==h9'])], ['h1', 'h2'], new Map()).get('a'), {});
  assert.equal(allowedOn(['node.hostname==h1'], 'h1'), true);
  assert.throws(() => allowedOn(['node.labels.x==y'], 'h1'), /invalid constraint/);
});

test('no churn: live slots stay; a dead node\'s slot moves to the least loaded live node', () => {
  const cur = new Map([['a', { 1: 'h1', 2: 'h2', 3: 'h3' }]]);
  assert.deepEqual(place([svc('a', 3)], ['h1', 'h2', 'h3', 'h4'], cur).get('a'), { 1: 'h1', 2: 'h2', 3: 'h3' });
  assert.deepEqual(place([svc('a', 3)], ['h1', 'h3'], cur).get('a'), { 1: 'h1', 2: 'h1', 3: 'h3' });
  assert.deepEqual(place([svc('a', 3)], ['h1', 'h3', 'h4'], cur).get('a'), { 1: 'h1', 2: 'h4', 3: 'h3' });
});

test('scale down drops the highest slots; sameAssignment compares slot by slot', () => {
  const cur = new Map([['a', { 1: 'h1', 2: 'h2', 3: 'h3' }]]);
  const out = place([svc('a', 1)], ['h1', 'h2', 'h3'], cur).get('a');
  assert.deepEqual(out, { 1: 'h1' });
  assert.equal(sameAssignment({ 1: 'h1' }, { 1: 'h1' }), true);
  assert.equal(sameAssignment({ 1: 'h1' }, { 1: 'h2' }), false);
  assert.equal(sameAssignment({ 1: 'h1' }, undefined), false);
});
