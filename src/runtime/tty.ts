// Pseudo-terminals for sandboxes and execs with a TTY (docker run -t, exec -t). Node has no pty
// API, so the terminal is made by libexec/tty-relay, a short Python script (Debian's python3,
// standard library only): it runs the program on a new terminal, relays stdin and output, and
// takes a new size from SIZE_FILE on SIGWINCH. For image sandboxes the program is runc with
// terminal: true in the foreground, which makes the container's own terminal inside it.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Internal } from '../model/errors.js';
import { findIn, SYSTEM_DIRS } from '../kernel/binaries.js';

export const TTY_RELAY = resolve(dirname(fileURLToPath(import.meta.url)), '../../../libexec/tty-relay');
/** Image sandboxes without a TTY: stdout and stderr kept apart, as records stamped on arrival. */
export const LOG_RELAY = resolve(dirname(fileURLToPath(import.meta.url)), '../../../libexec/log-relay');
/** Where log-relay writes the records (Docker's json-file lines), in a sandbox's state directory. */
export const recordsFile = (stateDir: string) => join(stateDir, 'log.jsonl');

/** Where a sandbox's terminal size is kept (its state directory). */
export const sandboxSizeFile = (stateDir: string) => join(stateDir, 'tty-size');

/**
 * The system's python3, looked up in the standard directories only: a user's PATH may lead to a
 * version manager's shim (slow to start, and dependent on that user's environment).
 */
export function python3(): string {
  const p = findIn('python3', SYSTEM_DIRS);
  if (!p) throw new Internal('a TTY needs python3 (Debian: apt-get install python3); it was not found in ' + SYSTEM_DIRS.join(':'));
  return p;
}

/** The argv prefix that runs a program on a new terminal of the size kept in sizeFile. */
export function relayArgv(sizeFile: string): string[] {
  return [python3(), TTY_RELAY, sizeFile, '--'];
}

/** Records a terminal size for the relay to read (atomically: it may be reading right now). */
export function writeSize(sizeFile: string, rows: number, cols: number): void {
  const tmp = `${sizeFile}.tmp`;
  writeFileSync(tmp, `${rows} ${cols}\n`);
  renameSync(tmp, sizeFile);
}

export function removeSize(sizeFile: string): void {
  rmSync(sizeFile, { force: true });
}
