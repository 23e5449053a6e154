// kernel/exec.ts run(): programs started on a worker thread behave as if started here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, runOk } from '../../src/kernel/exec.js';

test('run: stdin, stdout, stderr, exit code and the PID, through the worker thread', async () => {
  const pids: number[] = [];
  const r = await run(['sh', '-c', 'cat; echo err >&2; exit 3'], { input: 'hello\n', onSpawn: (p) => pids.push(p) });
  assert.deepEqual(r, { code: 3, stdout: 'hello\n', stderr: 'err\n' });
  assert.equal(pids.length, 1);
  assert.ok(pids[0]! > 1 && pids[0] !== process.pid);
});

test('run: a missing program is an error naming it; a hung one is killed at its timeout', async () => {
  await assert.rejects(run(['/no/such/program']), /cannot run \/no\/such\/program: spawn \/no\/such\/program ENOENT/);
  const r = await run(['sleep', '30'], { timeoutMs: 200 });
  assert.equal(r.code, 128, 'killed by a signal');
  await assert.rejects(runOk(['sh', '-c', 'echo nope >&2; exit 1']), /sh -c echo nope >&2; exit 1 failed: nope/);
});

test('run: many at once, each gets its own answer', async () => {
  const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => run(['sh', '-c', `echo ${i}`])));
  assert.deepEqual(rs.map((r) => r.stdout.trim()), Array.from({ length: 20 }, (_, i) => String(i)));
});
