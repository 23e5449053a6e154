import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startTimeSync } from '../../src/runtime/proc.js';
import { signalProcess } from '../../src/runtime/signal.js';

test('signalProcess: only a process whose start time matches the recorded one gets the signal', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, sig) => r(sig)));
  const pid = child.pid!;
  const startTime = startTimeSync(pid);
  assert.match(startTime, /^\d+$/);
  // A recycled PID looks like this: same number, another start time. It is left alone.
  assert.equal(signalProcess({ pid, startTime: String(Number(startTime) - 1) }, 'SIGTERM'), false);
  assert.equal(signalProcess({ pid, startTime: '' }, 'SIGTERM'), false, 'no start time, no signal');
  assert.match(startTimeSync(pid), /^\d+$/, 'still running');
  assert.equal(signalProcess({ pid, startTime }, 'SIGTERM'), true);
  assert.equal(await exited, 'SIGTERM');
  // Gone (reaped): nothing to signal.
  assert.equal(signalProcess({ pid, startTime }, 'SIGTERM'), false);
  assert.equal(signalProcess({ pid: 1, startTime: startTimeSync(1) }, 'SIGTERM'), false, 'never init');
});
