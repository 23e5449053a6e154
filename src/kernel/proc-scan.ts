// Finding what is left of a sandbox among the host's processes: one pass over /proc for both of
// its namespaces (mount and network), pausing for the event loop every few hundred entries so a
// removal among thousands of processes never stalls the API or the embedded DNS for long. (Sync
// reads in steps: the same reads through libuv's thread pool took twice as long here.)
import { readdirSync, readlinkSync } from 'node:fs';
import { startTimeSync } from '../runtime/proc.js';
import type { ProcessIdentity } from '../runtime/signal.js';

const STEP = 256;

function nsLink(pid: string, kind: 'mnt' | 'net'): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return '';
  }
}

/** Processes in the mount namespace `mnt` or the network namespace `net` (e.g. "net:[4026532800]"); '' skips one. */
export async function pidsInEitherNs(mnt: string, net: string): Promise<ProcessIdentity[]> {
  if (!mnt && !net) return [];
  const inOne = (e: string): boolean => (mnt !== '' && nsLink(e, 'mnt') === mnt) || (net !== '' && nsLink(e, 'net') === net);
  const found: ProcessIdentity[] = [];
  const entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  for (let i = 0; i < entries.length; i++) {
    if (i > 0 && i % STEP === 0) await new Promise<void>((r) => setImmediate(r));
    const e = entries[i]!;
    if (!inOne(e)) continue;
    const pid = Number(e);
    const startTime = startTimeSync(pid);
    // Still in the namespace after its start time was read: the start time is this process's.
    if (startTime && inOne(e)) found.push({ pid, startTime });
  }
  return found;
}
