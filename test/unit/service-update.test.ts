// service update as a pure function: which changes roll the replicas, which only scale, what is
// refused; the spec given is never changed in place (across hosts it is etcd's record).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyUpdate } from '../../src/model/service-update.js';
import { serviceSpecFromApi } from '../../src/model/service-spec.js';
import type { NetworkId } from '../../src/model/types.js';

const spec = () =>
  serviceSpecFromApi({ Name: 'web', TaskTemplate: { ContainerSpec: { Command: ['sleep', '9'], Env: ['A=1'] } }, Mode: { Replicated: { Replicas: 3 } } }, () => 'n1' as NetworkId).spec;

test('env rolls; replicas, parallelism and delay do not; nothing new is undefined', () => {
  const s = spec();
  const before = JSON.stringify(s);
  const env = applyUpdate(s, { envAdd: ['A=2', 'B=3'] })!;
  assert.equal(env.roll, true);
  assert.deepEqual(env.spec.env, ['A=2', 'B=3']);
  assert.equal(JSON.stringify(s), before, 'the given spec is left alone');
  const scale = applyUpdate(s, { replicas: 5, parallelism: 2, delayMs: 500 })!;
  assert.equal(scale.roll, false);
  assert.equal(scale.spec.replicas, 5);
  assert.deepEqual(scale.spec.update, { parallelism: 2, delayMs: 500 });
  assert.equal(applyUpdate(s, { envAdd: ['A=1'], replicas: 3 }), undefined);
});

test('bad values are refused with the flag named', () => {
  assert.throws(() => applyUpdate(spec(), { envAdd: ['=x'] }), /invalid environment variable "=x"/);
  assert.throws(() => applyUpdate(spec(), { parallelism: -1 }), /--update-parallelism/);
  assert.throws(() => applyUpdate(spec(), { parallelism: 1.5 }), /--update-parallelism/);
});
