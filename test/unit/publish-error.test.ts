import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BerthError, Conflict } from '../../src/model/errors.js';
import { onPublishingEndpoint } from '../../src/daemon/publish-error.js';

const ep = { id: 'a'.repeat(64) };

test('a taken host port is reported with Docker words, naming the publishing endpoint', async () => {
  const taken = () => Promise.reject(new Conflict('Bind for 0.0.0.0:8080 failed: port is already allocated'));
  await assert.rejects(onPublishingEndpoint({ name: 'web' }, ep, taken), (e: Error) => {
    assert.ok(e instanceof Conflict);
    assert.equal(e.message, `driver failed programming external connectivity on endpoint web (${ep.id}): Bind for 0.0.0.0:8080 failed: port is already allocated`);
    return true;
  });
});

test('other errors, and a sandbox without a publishing endpoint, pass through unchanged', async () => {
  const other = new BerthError(500, 'no free port in the ephemeral range');
  await assert.rejects(onPublishingEndpoint({ name: 'web' }, ep, () => Promise.reject(other)), (e) => e === other);
  const bind = new Conflict('Bind for 0.0.0.0:8080 failed: port is already allocated');
  await assert.rejects(onPublishingEndpoint({ name: 'web' }, undefined, () => Promise.reject(bind)), (e) => e === bind);
  assert.deepEqual(await onPublishingEndpoint({ name: 'web' }, ep, () => Promise.resolve([1])), [1]);
});
