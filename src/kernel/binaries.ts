// The helper programs berthd runs (ip, nft, nsenter, ...), each resolved once to an absolute path
// from berthd's own PATH and the standard system directories. Nothing a client sends (a
// sandbox's PATH, say) takes part in finding them: argv[0] is always an absolute path here.
//
//   requireHelpers(list)      at berthd start: resolves them all; throws naming what is missing
//   helperPath('ip')          '/usr/sbin/ip' (resolved on first use when not required at start)
//   absoluteArgv(argv)        argv[0], and the program nsenter/unshare wrap, made absolute
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { Internal } from '../model/errors.js';

/** Where helpers are looked for after berthd's own PATH: a systemd unit or sudo may trim it. */
export const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** What the launcher and the shim run: env and chroot always, sh for a command word with "=" (and,
 * with the shell chain, libexec/sandbox-init's own tools). */
export const SHIM_HELPERS = ['sh', 'env', 'mount', 'hostname', 'mkdir', 'mv', 'chroot'] as const;
/** Always needed: namespaces, links, sysctls, and the shim. */
export const CORE_HELPERS = ['ip', 'nsenter', 'unshare', 'umount', 'sysctl', 'flock', ...SHIM_HELPERS] as const;
/** What images and the containers made from them need (the OCI runtime, layer unpacking):
 * resolved at start when present; without them image routes fail with a clear 500. */
export const IMAGE_HELPERS = ['runc', 'tar', 'find', 'setfattr', 'mknod'] as const;
/** Used when present: berth says so in the log and goes on without them. */
export const OPTIONAL_HELPERS = ['iptables', 'conntrack'] as const;

export type IsExecutable = (path: string) => boolean;

const isExecutableFile: IsExecutable = (path) => {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/** The directories searched, in order: PATH's absolute entries, then SYSTEM_DIRS. */
export function searchDirs(pathEnv: string | undefined): string[] {
  const fromEnv = (pathEnv ?? '').split(delimiter).filter((d) => isAbsolute(d));
  return [...new Set([...fromEnv, ...SYSTEM_DIRS])];
}

/** Pure lookup: the first executable DIR/NAME, or undefined. The path is kept as found, never
 * resolved through symlinks (a busybox applet is chosen by the name it is called by). */
export function findIn(name: string, dirs: readonly string[], isExec: IsExecutable = isExecutableFile): string | undefined {
  if (!/^[A-Za-z0-9._+-]+$/.test(name)) return undefined;
  for (const d of dirs) {
    const p = join(d, name);
    if (isExec(p)) return p;
  }
  return undefined;
}

const table = new Map<string, string>();

/** A required helper is not installed: berthd says which and stops before touching anything. */
export class MissingHelper extends Internal {}

/**
 * Resolves every name in `required` (a missing one is an error naming it and where berthd looked)
 * and every name in `optional` (missing ones are returned). Call once at start, before anything
 * is changed on the host.
 */
export function requireHelpers(required: readonly string[], optional: readonly string[] = [], pathEnv = process.env['PATH']): { missingOptional: string[] } {
  const dirs = searchDirs(pathEnv);
  const missing = required.filter((n) => !table.has(n) && !remember(n, findIn(n, dirs)));
  if (missing.length > 0) {
    throw new MissingHelper(`cannot find ${missing.join(', ')} (looked in ${dirs.join(':')}): install ${missing.length > 1 ? 'them' : 'it'} or add ${missing.length > 1 ? 'their directories' : 'its directory'} to berthd's PATH`);
  }
  return { missingOptional: optional.filter((n) => !table.has(n) && !remember(n, findIn(n, dirs))) };
}

function remember(name: string, path: string | undefined): boolean {
  if (path) table.set(name, path);
  return path !== undefined;
}

/** The absolute path of a helper; throws (a request's 500, never a crash) when it is not installed. */
export function helperPath(name: string): string {
  if (isAbsolute(name)) return name;
  const known = table.get(name);
  if (known) return known;
  // Not resolved at start (unit tests and lab tools call run() directly): resolve now, from
  // this process's own PATH — never from an environment a client chose.
  const found = findIn(name, searchDirs(process.env['PATH']));
  if (!found) throw new Internal(`cannot run ${name}: not found in ${searchDirs(process.env['PATH']).join(':')}`);
  table.set(name, found);
  return found;
}

/** Programs that run another program given after their options. */
const WRAPPERS = new Set(['nsenter', 'unshare']);

/**
 * argv with its program, and the program an nsenter/unshare wraps, made absolute. The wrapped
 * program is the first argument that is not an option; berth passes those wrappers options only
 * in the --name=value form, so no option value is mistaken for it.
 */
export function absoluteArgv(argv: readonly string[], resolve: (name: string) => string = helperPath): string[] {
  const out = [...argv];
  const [cmd] = out;
  if (cmd === undefined) return out;
  out[0] = resolve(cmd);
  const base = cmd.slice(cmd.lastIndexOf('/') + 1);
  if (!WRAPPERS.has(base)) return out;
  for (let i = 1; i < out.length; i++) {
    const a = out[i]!;
    if (a === '--') {
      if (i + 1 < out.length) out[i + 1] = resolve(out[i + 1]!);
      break;
    }
    if (a.startsWith('-')) continue;
    out[i] = resolve(a);
    break;
  }
  return out;
}

/**
 * A program of berth's own built by scripts/build-native.sh (the netlink helper, the shim), or
 * undefined when it was not built (no C compiler) or `offVar`=0 in berthd's environment asks for
 * the fallback without it.
 */
export function nativeBinary(path: string, offVar: string): string | undefined {
  if (process.env[offVar] === '0') return undefined;
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}
