// Facts about processes from /proc, used to tell a live sandbox from a dead or recycled PID.
// /proc lives in memory, so these read synchronously: microseconds each, where a round trip
// through libuv's thread pool costs a millisecond or more per file on a busy machine.
// They stay async in signature so callers need not care.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot; '' when the process is gone. */
export async function startTimeOf(pid: number): Promise<string> {
  return startTimeSync(pid);
}

/** startTimeOf without the promise, for a check that must sit right next to what it guards. */
export function startTimeSync(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) return '';
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); a zombie has finished.
    if (fields[0] === 'Z' || fields[0] === 'X') return '';
    return fields[19] ?? '';
  } catch {
    return '';
  }
}

export async function isAlive(pid: number, startTime: string): Promise<boolean> {
  if (pid <= 0) return false;
  const now = await startTimeOf(pid);
  return now !== '' && (startTime === '' || now === startTime);
}

function nsOfSync(pid: number | string, kind: 'net' | 'mnt'): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return '';
  }
}

/** The namespace inode a process is in, e.g. "mnt:[4026532800]". */
export async function nsOf(pid: number, kind: 'net' | 'mnt'): Promise<string> {
  return nsOfSync(pid, kind);
}

/** Every process in the given namespace, with its start time read when it was found (for
 * killing what is left of a sandbox: the start time is checked again right before the signal). */
export async function pidsInNs(kind: 'net' | 'mnt', ns: string): Promise<Array<{ pid: number; startTime: string }>> {
  if (!ns) return [];
  const found: Array<{ pid: number; startTime: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (nsOfSync(entry, kind) !== ns) continue;
    const pid = Number(entry);
    const startTime = startTimeSync(pid);
    // Still in the namespace after its start time was read: the start time is this process's.
    if (startTime && nsOfSync(entry, kind) === ns) found.push({ pid, startTime });
  }
  return found;
}

/** The programs whose argv names a sandbox's state directory right after their own path: the
 * native shim (native/berth-init.c), and the shell shim and oci-init, which a berthd started with
 * BERTH_NATIVE_INIT=0, without a C compiler, or before the native shim existed has left running. */
const SHIM_NAMES = ['/berth-init', '/sandbox-init', '/oci-init'];

/**
 * The shim serving a sandbox's state directory, found by its argv: `... SHIM STATE_DIR ...`
 * from the moment berthd spawns it (berth-init is spawned itself; nsenter and unshare exec
 * sandbox-init, so its PID never changes either). 0 when none runs. Used after a crash that came
 * between the spawn and the record of its PID, when nothing else (no namespace of its own, in
 * host and container: modes) leads to the sandbox's processes.
 */
export function findShim(stateDir: string): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (isShimOf(argv, stateDir)) return Number(entry);
  }
  return 0;
}

/** Whether a process's argv is a shim's for stateDir (the shell shim's argv[0] is sh). Pure. */
export function isShimOf(argv: readonly string[], stateDir: string): boolean {
  for (let i = 0; i + 1 < argv.length; i++) {
    if (argv[i + 1] === stateDir && SHIM_NAMES.some((n) => argv[i]!.endsWith(n))) return true;
  }
  return false;
}
