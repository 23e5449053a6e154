// One berthd per data root. Two daemons on one store would each believe their own memory and
// overwrite each other's records, and the second would take over the first's socket.
//
// The lock is a kernel lock (flock, exclusive) on DATA_ROOT/berthd.lock, held through an open
// file descriptor for berthd's whole life: the kernel drops it when berthd ends, however it
// ends (SIGKILL included), so a dead daemon never leaves a stale lock, and of two daemons
// starting at the same moment exactly one gets it. Node has no flock call: the flock(1)
// program locks the descriptor berthd hands it as fd 3 (the lock belongs to the shared open
// file, so it stays with berthd when flock exits). berthd opens files close-on-exec, so the
// sandboxes it spawns never inherit the descriptor (they would hold the lock after berthd died).
// The file also holds the owner's PID and start time, so the refusal can say who holds it.
import { spawn } from 'node:child_process';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { startTimeOf } from '../runtime/proc.js';

const BUSY = 75; // flock -E: the exit code for "held by someone else"

/** The open lock file: kept referenced here so it is never garbage-collected (and closed). */
let held: FileHandle | undefined;

export class DataRootBusy extends Error {}

function flockFd(fd: number): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', String(BUSY), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(new Error(`cannot run flock to lock the data root: ${err.message}`)));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
}

/** Takes the data root's lock or throws DataRootBusy naming the daemon that holds it. */
export async function lockDataRoot(dataRoot: string): Promise<string> {
  const path = join(dataRoot, 'berthd.lock');
  // 'a+' creates without truncating: the holder's PID must survive a loser's open.
  const fh = await open(path, 'a+', 0o600);
  const r = await flockFd(fh.fd);
  if (r.code === BUSY) {
    await fh.close();
    const owner = (await readFile(path, 'utf8').catch(() => '')).trim().split(/\s+/);
    const pid = Number(owner[0]);
    const who = pid > 0 ? `another berthd (pid ${pid}${(await startTimeOf(pid)) ? '' : ', just ending'})` : 'another berthd (starting)';
    throw new DataRootBusy(
      `data root ${dataRoot} is in use by ${who}, which holds ${path}: stop it first, or give this berthd another --data-root (and --exec-root, --socket)`,
    );
  }
  if (r.code !== 0) {
    await fh.close();
    throw new Error(`cannot lock ${path}: ${r.stderr.trim() || `flock exited with ${r.code}`}`);
  }
  held = fh;
  await fh.truncate(0);
  await fh.write(`${process.pid} ${await startTimeOf(process.pid)}\n`, 0);
  await fh.sync();
  return path;
}
