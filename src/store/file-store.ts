// The embedded local store: one JSON file replaced atomically (write, rename), so a crash of
// berthd leaves either the old or the new state, never half of one. No fsync: what berth
// records describes namespaces and processes that do not survive a machine crash either, and
// the next start reconciles whatever the file says against the kernel.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BerthState } from '../model/types.js';
import { emptyState, type Store } from './store.js';

export class FileStore implements Store {
  constructor(private readonly path: string) {}

  async load(): Promise<BerthState> {
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as BerthState;
      if (parsed.version !== 1) throw new Error(`unsupported state version ${String(parsed.version)} in ${this.path}`);
      return parsed;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw err;
    }
  }

  async save(state: BerthState): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
