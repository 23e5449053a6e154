// Signalling a sandbox's process only once it is known to be the same process: a PID alone may
// have been recycled for an unrelated process since berth recorded it (after a berthd restart,
// or simply a long time later). Node has no pidfd API, so identity is the PID plus the start
// time from /proc/PID/stat, read again synchronously right before kill(2): no await, no other
// work in between, so the PID cannot be reaped and handed out again unseen in that gap.
import { startTimeSync } from './proc.js';

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat when berth recorded the process. */
  startTime: string;
}

/** Sends `signal` if the process is still the one recorded; true when the signal went out. An
 * identity without a start time is refused: berth does not signal a PID it cannot tell apart. */
export function signalProcess(id: ProcessIdentity, signal: NodeJS.Signals | number): boolean {
  return killIfSame(id, id.pid, signal);
}

/**
 * Sends `signal` to the process group `leader` leads (a sandbox's shim, started in a session of
 * its own), if the leader is still the one recorded: the shim and every process of the command
 * that stayed in its group, without knowing their PIDs.
 */
export function signalGroup(leader: ProcessIdentity, signal: NodeJS.Signals | number): boolean {
  return killIfSame(leader, -leader.pid, signal);
}

function killIfSame(id: ProcessIdentity, target: number, signal: NodeJS.Signals | number): boolean {
  if (!Number.isInteger(id.pid) || id.pid <= 1 || !id.startTime) return false;
  if (startTimeSync(id.pid) !== id.startTime) return false;
  try {
    process.kill(target, signal);
    return true;
  } catch {
    return false; // ended in between
  }
}
