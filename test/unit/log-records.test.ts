// docker logs from log-relay's records: stdout and stderr as frames 1 and 2, chosen by the client,
// Docker's timestamps, records split between reads, and --tail's offset.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordFramer, tailOffset } from '../../src/daemon/docker/log-records.js';
import { frame } from '../../src/daemon/docker/streams.js';

const rec = (log: string, stream: string, time = '2026-11-30T07:39:51.96047Z') => `${JSON.stringify({ log, stream, time })}\n`;

test('stdout and stderr frames, only the streams asked for, timestamps as Docker prints them', () => {
  const text = Buffer.from(rec('out\n', 'stdout') + rec('err\n', 'stderr'));
  assert.deepEqual(recordFramer({ stdout: true, stderr: true, timestamps: false })(text), Buffer.concat([frame(1, Buffer.from('out\n')), frame(2, Buffer.from('err\n'))]));
  assert.deepEqual(recordFramer({ stdout: true, stderr: false, timestamps: false })(text), frame(1, Buffer.from('out\n')));
  assert.deepEqual(recordFramer({ stdout: false, stderr: true, timestamps: true })(text), frame(2, Buffer.from('2026-11-30T07:39:51.96047Z err\n')));
});

test('a record split between two reads is sent once it is whole; broken lines are skipped', () => {
  const send = recordFramer({ stdout: true, stderr: true, timestamps: false });
  const text = Buffer.from(rec('one\n', 'stdout') + 'not json\n' + rec('two\n', 'stderr'));
  const cut = text.length - 10;
  assert.deepEqual(send(text.subarray(0, cut)), frame(1, Buffer.from('one\n')));
  assert.deepEqual(send(text.subarray(cut)), frame(2, Buffer.from('two\n')));
});

test('tail: the offset of the last n lines', () => {
  const t = Buffer.from('a\nb\nc\n');
  assert.equal(tailOffset(t, -1), 0);
  assert.equal(tailOffset(t, 0), 6);
  assert.equal(tailOffset(t, 1), 4);
  assert.equal(tailOffset(t, 2), 2);
  assert.equal(tailOffset(t, 5), 0);
});
