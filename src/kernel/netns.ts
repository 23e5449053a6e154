// Network namespaces as bind-mounted nsfs files under the exec-root, so they outlive any process.
import { mkdir, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { IpBatch } from '../plan/link-plan.js';
import { runOk, run } from './exec.js';

/** Creates the namespace and runs an `ip -batch` inside it, in one process. */
export async function createNetnsWith(path: string, batch: IpBatch): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const fh = await open(path, 'w');
  await fh.close();
  await runOk(['unshare', `--net=${path}`, 'ip', '-batch', '-'], { input: batch.join('\n') + '\n' });
}

export async function deleteNetns(path: string): Promise<void> {
  // Unmounting releases the namespace once no process is left in it; its veths go with it.
  await run(['umount', path]);
  await rm(path, { force: true });
}

/** Is there a namespace mounted at path? `mounts` (from mountPoints()) saves reading mountinfo again. */
export async function netnsExists(path: string, mounts?: ReadonlySet<string>): Promise<boolean> {
  try {
    const st = await stat(path);
    // An unmounted placeholder is a plain empty file: only a mount point is a namespace.
    return st.ino !== 0 && (mounts ?? (await mountPoints())).has(path);
  } catch {
    return false;
  }
}

/** Every mount point of berthd's mount namespace, read once (a check per sandbox at start would
 * read the whole table once per sandbox: quadratic with a thousand namespaces mounted). */
export async function mountPoints(): Promise<Set<string>> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return new Set(info.split('\n').map((l) => l.split(' ')[4] ?? ''));
}

export async function listNetns(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).map((f) => join(dir, f));
  } catch {
    return [];
  }
}
