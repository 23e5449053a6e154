// Starting a sandbox's process: detached from berthd (so it survives a berthd restart), in
// its own mount and UTS namespaces, inside its network namespace, output to its log file.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { closeSync, openSync, readFileSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Internal } from '../model/errors.js';
import { helperPath, nativeBinary } from '../kernel/binaries.js';
import { netlinkHelper, type NetlinkHelper, type Spawned } from '../kernel/netlink-helper.js';
import { nsOf, startTimeOf } from './proc.js';
import { LOG_RELAY, python3, relayArgv, sandboxSizeFile, TTY_RELAY } from './tty.js';

const INIT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../libexec/sandbox-init');
const LAUNCH_HELPERS = ['nsenter', 'unshare', 'sh', 'env', 'chroot', 'mount', 'hostname', 'mkdir', 'mv'] as const;
const OCI_INIT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../libexec/oci-init');
/** native/berth-init.c, built by scripts/build-native.sh next to the netlink helper. */
const NATIVE_INIT = fileURLToPath(new URL('../kernel/berth-init', import.meta.url));

let nativeInitPath: string | undefined;
let nativeInitLooked = false;

/**
 * The native shim's path, or undefined for the shell chain (nsenter, unshare, sh sandbox-init):
 * when it was not built (no C compiler) or BERTH_NATIVE_INIT=0 asks for the chain. Looked up once.
 */
export function nativeInit(): string | undefined {
  if (nativeInitLooked) return nativeInitPath;
  nativeInitLooked = true;
  nativeInitPath = nativeBinary(NATIVE_INIT, 'BERTH_NATIVE_INIT');
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
  /** The command's stdin, a pipe from berthd (docker run -i). */
  stdin?: Writable;
  /** Settles when the shim ends; made at spawn so an early exit is never missed. */
  exited: Promise<void>;
  /**
   * False when berthd can no longer hear the shim's end (its starter, the netlink helper, was
   * lost): the sandbox is then watched like one adopted after a restart.
   */
  heard: () => boolean;
  /** True once the shim has ended (as far as berthd heard). */
  ended: () => boolean;
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
  const shim = shimArgv(spec, bins, spec.oci ? undefined : nativeInit());
  const helper = process.env['BERTH_HELPER_SPAWN'] === '0' ? undefined : netlinkHelper();
  // The netlink helper starts the shim when it can (no stdin pipe to hand over): a fork of that
  // small process instead of berthd's (kernel/netlink-helper.ts spawn). BERTH_HELPER_SPAWN=0
  // keeps Node's spawn, for comparison.
  if (helper && !spec.stdinPipe) return launchByHelper(helper, spec, shim);
  const log = openSync(spec.logPath, 'a');
  let child: ChildProcess;
  let spawnError: Error | undefined;
  let exited = false;
  let exitedP: Promise<void>;
  try {
    child = spawn(shim.argv[0]!, shim.argv.slice(1), { detached: true, stdio: [spec.stdinPipe ? 'pipe' : 'ignore', log, log], env: shim.env });
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
  const ended = () => exited || child.exitCode !== null || child.signalCode !== null;
  const ready = readyOf(spec, shimPid, ended, () => child.kill('SIGKILL'));
  return { ...(child.stdin ? { stdin: child.stdin } : {}), exited: exitedP, heard: () => true, ended, shimPid, ready };
}

async function launchByHelper(helper: NetlinkHelper, spec: LaunchSpec, shim: { argv: string[]; env: Record<string, string> }): Promise<Launched> {
  let spawned: Spawned;
  try {
    spawned = await helper.spawn(shim.argv, shim.env, spec.logPath);
  } catch (e) {
    throw new Internal(`could not start the sandbox process: ${(e as Error).message}`);
  }
  let ended = false;
  let heard = true;
  // Settles only on a real end: a lost helper says nothing of the shim, which lives on.
  const exited = new Promise<void>((resolve) => {
    void spawned.exited.then((code) => {
      if (code === undefined) heard = false;
      else {
        ended = true;
        resolve();
      }
    });
  });
  const ready = readyOf(spec, spawned.pid, () => ended, () => {
    try {
      process.kill(spawned.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  return { exited, heard: () => heard, ended: () => ended, shimPid: spawned.pid, ready };
}

/**
 * Wakes a waiter when NAME is created or renamed into DIR (an inotify watch through fs.watch), or
 * after the waiter's own timeout. Without inotify (or when the watch fails) only the timeouts
 * remain. An event that comes while nobody waits is kept for the next wait.
 */
function watchName(dir: string, name: string): { wait: (ms: number) => Promise<void>; close: () => void } {
  let pending = false;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, (_event, file) => {
      if (file !== name) return;
      pending = true;
      wake?.();
    });
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined;
  }
  return {
    wait: (ms) =>
      new Promise<void>((resolve) => {
        if (pending) {
          pending = false;
          return resolve();
        }
        const done = () => {
          clearTimeout(timer);
          wake = undefined;
          pending = false;
          resolve();
        };
        const timer = setTimeout(done, watcher ? ms : Math.min(ms, 2));
        wake = done;
      }),
    close: () => watcher?.close(),
  };
}

/**
 * The shim writes the command's PID once the sandbox's files are in place (pid.tmp renamed to
 * pid). berthd does not wait for it: the network is ready before the spawn, and whoever needs the
 * PID awaits this. The rename is heard through an inotify watch on the state directory, set
 * before the first look at the file so that no rename falls in between; a look every 20 ms
 * besides notices a shim that ended without a PID (every 2 ms without inotify).
 */
function readyOf(spec: LaunchSpec, shimPid: number, ended: () => boolean, kill: () => void): Promise<Running> {
  const ready = (async (): Promise<Running> => {
    const deadline = Date.now() + 10_000;
    const pidFile = watchName(spec.stateDir, 'pid');
    try {
      for (;;) {
        const pidText = readPidFile(spec.stateDir);
        if (pidText.trim()) {
          const pid = Number(pidText.trim());
          return { pid, pidStartTime: await startTimeOf(pid), mntNs: await nsOf(shimPid, 'mnt') };
        }
        if (ended() || Date.now() > deadline) {
          const tail = (await readFile(spec.logPath, 'utf8').catch(() => '')).split('\n').slice(-5).join('\n').trim();
          if (!ended()) kill();
          throw new Internal(`the sandbox process did not start${tail ? `: ${tail}` : ''}`);
        }
        await pidFile.wait(20);
      }
    } finally {
      pidFile.close();
    }
  })();
  ready.catch(() => undefined);
  return ready;
}
