// Finds a command in an image's layers before the OCI runtime is asked to run it, so a missing
// command is refused at start with Docker's message (and exit code 127) instead of a runtime
// error in the log. Looks through the layers top first, as overlayfs will.
import { lstat, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

/** True when argv0 is found in one of the layer directories (relative to the container's PATH and cwd). */
export async function commandInLayers(layerDirs: readonly string[], argv0: string, env: readonly string[], cwd: string): Promise<boolean> {
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  const candidates = argv0.includes('/') ? [posix.resolve(cwd || '/', argv0)] : path.split(':').filter((d) => d.startsWith('/')).map((d) => posix.join(d, argv0));
  for (const c of candidates) for (const dir of layerDirs) if (await exists(join(dir, c))) return true;
  return false;
}

/** A file of the image as the container will see it (the first layer, top first, that has it); '' when none has. */
export async function fileInLayers(layerDirs: readonly string[], path: string): Promise<string> {
  for (const dir of layerDirs) {
    const text = await readFile(join(dir, path), 'utf8').catch(() => undefined);
    if (text !== undefined) return text;
  }
  return '';
}
