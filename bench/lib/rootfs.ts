// A minimal image rootfs from busybox-static: the binary, one symlink per applet, a web root.
// docker imports it as an image (no registry); podman runs it with --rootfs.
import { copyFileSync, chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from './proc.js';

export const BUSYBOX = '/bin/busybox';

export async function buildRootfs(dir: string): Promise<string> {
  if (existsSync(join(dir, 'bin', 'busybox'))) return dir;
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'var/www', 'root']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  chmodSync(join(dir, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  const list = (await run([BUSYBOX, '--list-full'])).stdout.split('\n').filter(Boolean);
  for (const applet of list) {
    const path = join(dir, applet);
    if (existsSync(path) || applet === 'bin/busybox') continue;
    mkdirSync(dirname(path), { recursive: true });
    symlinkSync('/bin/busybox', path);
  }
  writeFileSync(join(dir, 'var/www/index.html'), 'hello from bn\n');
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  return dir;
}
