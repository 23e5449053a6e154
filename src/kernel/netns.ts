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

export async function netnsExists(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    // An unmounted placeholder is a plain empty file: only a mount point is a namespace.
    return st.ino !== 0 && (await isMountPoint(path));
  } catch {
    return false;
  }
}

async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === path);
}

export async function listNetns(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).map((f) => join(dir, f));
  } catch {
    return [];
  }
}
