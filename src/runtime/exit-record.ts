// The exit code a sandbox's shim records (STATE_DIR/exitcode, written through a .tmp file and a
// rename) when the sandbox's command ends.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTimeSync } from './proc.js';
import type { ProcessIdentity } from './signal.js';

/** How long a release waits for a shim that is recording its command's end. */
const RECORDING_MS = 2000;

const runs = (id: ProcessIdentity) => id.pid > 0 && id.startTime !== '' && startTimeSync(id.pid) === id.startTime;

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * The exit code the shim wrote, as text ('' when there is none). berthd can notice a command's
 * end before its shim has recorded it: an adopted sandbox (after a berthd restart) is watched
 * through the command's PID, which counts as ended once it is a zombie, while the shim has yet to
 * reap it and write the file (the shell chain runs `mv` for that: milliseconds). So while the
 * command has ended and its shim still runs, this waits for the file, RECORDING_MS at most; a
 * command still running (a release for another reason), or a shim already gone, is not waited for.
 */
export async function recordedExitCode(stateDir: string, command: ProcessIdentity, shim: ProcessIdentity): Promise<string> {
  const file = join(stateDir, 'exitcode');
  const deadline = Date.now() + RECORDING_MS;
  for (;;) {
    const text = readText(file);
    if (text || command.pid <= 0 || runs(command) || !runs(shim) || Date.now() > deadline) return text;
    await new Promise((r) => setTimeout(r, 1));
  }
}
