// Starting a sandbox's process: detached from berthd (so it survives a berthd restart), in
// its own mount and UTS namespaces, inside its network namespace, output to its log file.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { accessSync, closeSync, constants, openSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Internal } from '../model/errors.js';
import { helperPath } from '../kernel/binaries.js';
import { nsOf, startTimeOf } from './proc.js';
import { LOG_RELAY, python3, relayArgv, sandboxSizeFile, TTY_RELAY } from './tty.js';

const INIT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../libexec/sandbox-init');
const LAUNCH_HELPERS = ['nsenter', 'unshare', 'sh', 'env', 'chroot', 'mount', 'hostname', 'mkdir', 'mv'] as const;
const OCI_INIT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../libexec/oci-init');
/** native/berth-init.c, built by scripts/build-native.sh next to the netlink helper. */
const NATIVE_INIT = fileURLToPath(new URL('../kernel/berth-init', import.meta.url));

/** The native shim writes the command's PID to this descriptor as well as to STATE_DIR/pid. */
const PID_FD = 3;
const PID_FD_VAR = 'BERTH_INIT_PID_FD';

let nativeInitPath: string | undefined;
let nativeInitLooked = false;

/**
 * The native shim's path, or undefined for the shell chain (nsenter, unshare, sh sandbox-init):
 * when it was not built (no C compiler) or BERTH_NATIVE_INIT=0 asks for the chain. Looked up once.
 */
export function nativeInit(): string | undefined {
  if (nativeInitLooked) return nativeInitPath;
  nativeInitLooked = true;
  if (process.env['BERTH_NATIVE_INIT'] === '0') return undefined;
  try {
    accessSync(NATIVE_INIT, constants.X_OK);
    nativeInitPath = NATIVE_INIT;
  } catch {
    nativeInitPath = undefined;
  }
  return nativeInitPath;
}

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
  /** The command runs on a pseudo-terminal of its own (docker run -t): runtime/tty.ts. */
  tty?: boolean;
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

/** Absolute paths of the programs the launcher and the shim run (kernel/binaries.ts). */
export type HelperPaths = Record<'nsenter' | 'unshare' | 'sh' | 'env' | 'chroot' | 'mount' | 'hostname' | 'mkdir' | 'mv', string>;

/**
 * The sandbox's command as the shim runs it: `env -i -- KEY=VALUE... CMD...`, so the sandbox's
 * environment (its PATH included) applies to the command alone: env finds CMD through that PATH,
 * as Docker does, while the shim and berthd find their own tools by absolute path. With a root
 * filesystem, chroot (by absolute path) runs between env and CMD. Pure.
 */
export function commandArgv(cmd: readonly string[], env: Readonly<Record<string, string>>, rootfs: string, bins: Pick<HelperPaths, 'env' | 'chroot' | 'sh'>): string[] {
  const assignments = Object.entries(env)
    .filter(([k]) => k !== '' && !k.includes('='))
    .map(([k, v]) => `${k}=${v}`);
  // env would take a first word containing "=" for one more assignment: let sh exec it instead.
  const program = rootfs ? [bins.chroot, rootfs, ...cmd] : cmd[0]?.includes('=') ? [bins.sh, '-c', 'exec "$@"', 'sh', ...cmd] : [...cmd];
  return [bins.env, '-i', '--', ...assignments, ...program];
}

/**
 * The shim's own argv and environment: nothing in them comes from the sandbox's environment.
 * With `init` (the native shim's path) one exec does what nsenter, unshare and sandbox-init do.
 */
export function shimArgv(spec: Omit<LaunchSpec, 'stateDir' | 'logPath'> & { stateDir: string }, bins: HelperPaths, init?: string): { argv: string[]; env: Record<string, string> } {
  const o = spec.oci;
  if (o) {
    // The OCI runtime (by absolute path, like every helper) joins the network namespace itself
    // (config.json names it by path) and takes the command's environment from config.json.
    const argv = [bins.unshare, '--mount', '--propagation', 'private', bins.sh, OCI_INIT, spec.stateDir, o.merged, o.lower, o.upper, o.work, o.runtime, o.runtimeRoot, o.bundle, o.id];
    // A TTY's relay, or else the relay that keeps stdout and stderr apart (runtime/tty.ts).
    const tty: Record<string, string> = spec.tty ? { BERTH_PYTHON: python3(), BERTH_TTY_RELAY: TTY_RELAY } : { BERTH_PYTHON: python3(), BERTH_LOG_RELAY: LOG_RELAY };
    return { argv, env: { PATH: DEFAULT_PATH, BERTH_MOUNT: bins.mount, BERTH_MKDIR: bins.mkdir, BERTH_MV: bins.mv, ...tty } };
  }
  const program = [...(spec.tty ? relayArgv(sandboxSizeFile(spec.stateDir)) : []), ...commandArgv(spec.cmd, spec.env, spec.rootfs, bins)];
  // PATH only for tty-relay's python, which runs before env -i; the shim itself looks nothing up.
  if (init) return { argv: [init, spec.stateDir, spec.rootfs, spec.hostname, spec.netnsPath ?? '', '--', ...program], env: { PATH: DEFAULT_PATH } };
  const argv = [
    ...(spec.netnsPath ? [bins.nsenter, `--net=${spec.netnsPath}`] : []),
    bins.unshare, '--mount', '--uts', '--propagation', 'private',
    bins.sh, INIT, spec.stateDir, spec.rootfs, spec.hostname, '--',
    ...program,
  ];
  const env = { PATH: DEFAULT_PATH, BERTH_MOUNT: bins.mount, BERTH_HOSTNAME: bins.hostname, BERTH_MKDIR: bins.mkdir, BERTH_MV: bins.mv };
  return { argv, env };
}

/** The first line a stream gives ('' when it ends, fails or stays silent for timeoutMs); then it is closed. */
function firstLine(stream: Readable, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const done = () => {
      clearTimeout(timer);
      stream.destroy();
      const nl = text.indexOf('\n');
      resolve(nl >= 0 ? text.slice(0, nl) : '');
    };
    const timer = setTimeout(done, timeoutMs);
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) done();
    });
    stream.once('end', done);
    stream.once('error', done);
  });
}

function readPidFile(stateDir: string): string {
  try {
    return readFileSync(join(stateDir, 'pid'), 'utf8');
  } catch {
    return '';
  }
}

export async function launch(spec: LaunchSpec): Promise<Launched> {
  // The state directory's few small files are handled synchronously (microseconds each), as
  // proc.ts reads /proc: a round trip through libuv's thread pool costs a millisecond or more
  // per call on a busy machine, and a start makes five of them here.
  rmSync(join(spec.stateDir, 'pid'), { force: true });
  rmSync(join(spec.stateDir, 'exitcode'), { force: true });
  const bins = Object.fromEntries(LAUNCH_HELPERS.map((n) => [n, helperPath(n)])) as HelperPaths;
  const init = spec.oci ? undefined : nativeInit();
  const shim = shimArgv(spec, bins, init);
  // The native shim also reports the command's PID on a pipe berthd reads (fd 3), named to it by
  // BERTH_INIT_PID_FD: only here, where that pipe is made.
  const env = init ? { ...shim.env, [PID_FD_VAR]: String(PID_FD) } : shim.env;
  const log = openSync(spec.logPath, 'a');
  let child: ChildProcess;
  let spawnError: Error | undefined;
  let exited = false;
  let exitedP: Promise<void>;
  try {
    const stdin = spec.stdinPipe ? 'pipe' : 'ignore';
    child = spawn(shim.argv[0]!, shim.argv.slice(1), { detached: true, stdio: init ? [stdin, log, log, 'pipe'] : [stdin, log, log], env });
    // Listeners before any await: a shim that ends at once (a command that does not exist, on a
    // busy machine) must not end unheard while the log file closes. And without an 'error'
    // listener a failed spawn (ENOENT, EAGAIN) is an uncaught error that ends berthd; it is
    // reported through `exited` and `ready` instead.
    child.on('error', (err) => {
      spawnError = err;
    });
    exitedP = new Promise<void>((resolve) => {
      const done = () => {
        exited = true;
        resolve();
      };
      child.once('exit', done);
      child.once('error', done);
    });
  } finally {
    closeSync(log);
  }
  child.unref();
  const shimPid = child.pid ?? 0;
  if (!shimPid) {
    await exitedP;
    throw new Internal(`could not start the sandbox process: ${spawnError?.message ?? 'no PID'}`);
  }
  // The shim writes the command's PID once the sandbox's files are in place. berthd does not
  // wait for it: the network is ready before the spawn, and whoever needs the PID awaits ready.
  // The native shim reports it on a pipe too, heard at once; the shell chain only writes the file,
  // polled for (so is the file when the pipe closes without a PID: the shim failed).
  const pidPipe = child.stdio[PID_FD] as Readable | null | undefined;
  const ready = (async (): Promise<Running> => {
    const deadline = Date.now() + 10_000;
    if (pidPipe) {
      const reported = await firstLine(pidPipe, 10_000);
      if (reported) return { pid: Number(reported), pidStartTime: await startTimeOf(Number(reported)), mntNs: await nsOf(shimPid, 'mnt') };
    }
    for (;;) {
      const pidText = readPidFile(spec.stateDir);
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
