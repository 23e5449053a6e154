// Durable file writes: a file is replaced by writing a temporary beside it, fsyncing it,
// renaming it over the old one and fsyncing the directory, so after a crash (of berthd or of
// the machine) the name holds either the old or the new content, whole. Optionally the old
// content stays beside it as NAME.prev: the last good copy to fall back on if NAME is later
// found damaged (a disk fault, an editor, a truncating tool).
import { link, open, rename, unlink } from 'node:fs/promises';

/** Counters of what the store wrote, for the debug log and measurements. */
export interface WriteStats {
  files: number;
  bytes: number;
  fsyncs: number;
}

export function newWriteStats(): WriteStats {
  return { files: 0, bytes: 0, fsyncs: 0 };
}

async function ignoreMissing(p: Promise<unknown>): Promise<void> {
  await p.catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/**
 * Writes `data` to `path` through `path.tmp` (fsynced, then renamed). The directory is NOT
 * fsynced here: callers writing several files fsync it once with syncDir.
 * keepPrev: the current content becomes `path.prev` first (a hard link, no data copied).
 */
export async function writeFileDurable(path: string, data: string, keepPrev: boolean, stats?: WriteStats): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (keepPrev) {
    // Every moment of this sequence leaves `path` whole: prev is replaced, never path.
    await ignoreMissing(unlink(`${path}.prev`));
    await ignoreMissing(link(path, `${path}.prev`));
  }
  await rename(tmp, path);
  if (stats) {
    stats.files += 1;
    stats.bytes += Buffer.byteLength(data);
    stats.fsyncs += 1;
  }
}

/** Removes `path` and its previous copy (the copy first, so a crash never leaves only a copy). */
export async function removeFileDurable(path: string): Promise<void> {
  await ignoreMissing(unlink(`${path}.prev`));
  await ignoreMissing(unlink(`${path}.tmp`));
  await ignoreMissing(unlink(path));
}

/** fsync of a directory: makes renames and unlinks in it durable. */
export async function syncDir(dir: string, stats?: WriteStats): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (stats) stats.fsyncs += 1;
}
