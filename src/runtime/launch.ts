// Starting a sandbox's process: detached from berthd (so it survives a berthd restart), in
// its own mount and UTS namespaces, inside its network namespace, output to its log file.
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Internal } from '../model/errors.js';
import { nsOf, startTimeOf } from './proc.js';

const INIT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../libexec/sandbox-init');
const OCI_INIT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../libexec/oci-init');

/** A sandbox made from an image: the OCI runtime runs it from a bundle berth wrote. */
export interface OciLaunch {
  runtime: string;
  runtimeRoot: string;
  bundle: string;
  id: string;
  merged: string;
  /** overlayfs lowerdir: top layer first, colon-separated. */
  lower: string;
  upper: string;
  work: string;
}
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface LaunchSpec {
  stateDir: string;
  logPath: string;
  /** Network namespace to join; undefined runs in berthd's (host mode). */
  netnsPath: string | undefined;
  rootfs: string;
  /** '' keeps the current hostname. */
  hostname: string;
  cmd: string[];
  env: Record<string, string>;
  oci?: OciLaunch;
  /** The command's stdin is a pipe from berthd (docker run -i); else /dev/null. */
  stdinPipe?: boolean;
}

export interface Launched {
  child: ChildProcess;
  /** Settles when the shim ends; made at spawn so an early exit is never missed. */
  exited: Promise<void>;
  shimPid: number;
  /** Settles once the shim has put the sandbox's files in place and started the command. */
  ready: Promise<Running>;
}

export interface Running {
  pid: number;
  pidStartTime: string;
  mntNs: string;
}

export async function launch(spec: LaunchSpec): Promise<Launched> {
  await rm(join(spec.stateDir, 'pid'), { force: true });
  await rm(join(spec.stateDir, 'exitcode'), { force: true });
  const log = await open(spec.logPath, 'a');
  const o = spec.oci;
  // The OCI runtime joins the network namespace itself (config.json names it by path).
  const argv = o
    ? ['unshare', '--mount', '--propagation', 'private', 'sh', OCI_INIT, spec.stateDir, o.merged, o.lower, o.upper, o.work, o.runtime, o.runtimeRoot, o.bundle, o.id]
    : [
        ...(spec.netnsPath ? ['nsenter', `--net=${spec.netnsPath}`] : []),
        'unshare', '--mount', '--uts', '--propagation', 'private',
        'sh', INIT, spec.stateDir, spec.rootfs, spec.hostname, '--', ...spec.cmd,
      ];
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: [spec.stdinPipe ? 'pipe' : 'ignore', log.fd, log.fd], env: o ? { PATH: DEFAULT_PATH } : spec.env });
  } finally {
    await log.close();
  }
  child.unref();
  let exited = false;
  const exitedP = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const shimPid = child.pid ?? 0;
  if (!shimPid) throw new Internal('could not start the sandbox process');
  // The shim writes the command's PID once the sandbox's files are in place. berthd does not
  // wait for it: the network is ready before the spawn, and whoever needs the PID awaits ready.
  const ready = (async (): Promise<Running> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const pidText = await readFile(join(spec.stateDir, 'pid'), 'utf8').catch(() => '');
      if (pidText.trim()) {
        const pid = Number(pidText.trim());
        return { pid, pidStartTime: await startTimeOf(pid), mntNs: await nsOf(shimPid, 'mnt') };
      }
      if (exited || Date.now() > deadline) {
        const tail = (await readFile(spec.logPath, 'utf8').catch(() => '')).split('\n').slice(-5).join('\n').trim();
        if (!exited) child.kill('SIGKILL');
        throw new Internal(`the sandbox process did not start${tail ? `: ${tail}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  ready.catch(() => undefined);
  return { child, exited: exitedP, shimPid, ready };
}
