import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordedExitCode } from '../../src/runtime/exit-record.js';
import { startTimeSync } from '../../src/runtime/proc.js';
import type { ProcessIdentity } from '../../src/runtime/signal.js';

/** A real process standing in for a shim or a command. */
function sleeper(): { child: ChildProcess; id: ProcessIdentity } {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  return { child, id: { pid: child.pid!, startTime: startTimeSync(child.pid!) } };
}

async function ended(): Promise<ProcessIdentity> {
  const s = sleeper();
  const gone = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGKILL');
  await gone;
  return s.id;
}

test('recordedExitCode: waits for a shim that is recording its ended command, not for one that is gone or a command still running', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-exit-'));
  const shim = sleeper();
  const command = sleeper();
  try {
    const gone = await ended();
    // The command has ended, its shim lives and writes the file a little later: its code is read.
    setTimeout(() => writeFileSync(join(dir, 'exitcode'), '143\n'), 50);
    assert.equal(await recordedExitCode(dir, gone, shim.id), '143');
    // Nothing to wait for: the shim is gone, or the command still runs.
    rmSync(join(dir, 'exitcode'));
    assert.equal(await recordedExitCode(dir, gone, await ended()), '');
    assert.equal(await recordedExitCode(dir, command.id, shim.id), '');
    assert.equal(await recordedExitCode(dir, { pid: 0, startTime: '' }, shim.id), '');
  } finally {
    shim.child.kill('SIGKILL');
    command.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
