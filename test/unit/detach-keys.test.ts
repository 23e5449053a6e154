// Docker's detach keys: parsing as moby's term.ToBytes, and the filter that holds a partial
// sequence back and passes it on when the sequence breaks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DetachFilter, parseDetachKeys } from '../../src/daemon/docker/detach-keys.js';
import { BadRequest } from '../../src/model/errors.js';

test('detach keys parse as Docker: ctrl-p,ctrl-q by default, single characters, ctrl-@ and ctrl-[', () => {
  assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [0x10, 0x11]);
  assert.deepEqual([...parseDetachKeys('ctrl-x,x')], [0x18, 0x78]);
  assert.deepEqual([...parseDetachKeys('ctrl-@,ctrl-[,ctrl-_')], [0, 27, 31]);
  for (const bad of ['ctrl-', 'ctrl-pp', 'alt-x', 'ab', '', 'ctrl-p,,ctrl-q']) assert.throws(() => parseDetachKeys(bad), BadRequest, bad);
});

test('the filter passes typed bytes, drops a completed sequence and what follows it', () => {
  const f = new DetachFilter(Buffer.from([0x10, 0x11]));
  assert.deepEqual(f.feed(Buffer.from('ls\r')), { pass: Buffer.from('ls\r'), detached: false });
  // Split across two reads, as a person types it.
  assert.deepEqual(f.feed(Buffer.from([0x61, 0x10])), { pass: Buffer.from('a'), detached: false });
  assert.deepEqual(f.feed(Buffer.from([0x11, 0x62])), { pass: Buffer.alloc(0), detached: true });
});

test('a broken sequence is passed on whole: ctrl-p alone reaches the program', () => {
  const f = new DetachFilter(Buffer.from([0x10, 0x11]));
  assert.deepEqual(f.feed(Buffer.from([0x10])), { pass: Buffer.alloc(0), detached: false });
  assert.deepEqual(f.feed(Buffer.from('x')), { pass: Buffer.from([0x10, 0x78]), detached: false });
  // ctrl-p ctrl-p ctrl-q: the first is passed, the last two detach.
  assert.deepEqual(f.feed(Buffer.from([0x10, 0x10, 0x11])), { pass: Buffer.from([0x10]), detached: true });
});
