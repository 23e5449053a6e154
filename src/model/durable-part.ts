// Which part of a sandbox record must survive a power loss. Everything else in it (status,
// PIDs, endpoints, ports, exit code, health, generation) describes processes and kernel
// objects that a reboot ends anyway: after one, reconcile finds them gone whatever the record
// says. So a change that touches only that runtime part is written atomically but without
// fsync (store/durable-file.ts writeFileAtomic): a power loss may bring back an older runtime
// state, never a lost or mixed record. A clean reboot loses nothing: the kernel writes dirty
// pages back before it stops. Pure.
import type { SandboxRecord } from './types.js';

/**
 * The durable part of a sandbox record as text: two records with the same text differ only in
 * runtime state. stoppedByUser is durable: after a reboot, an unless-stopped sandbox the user
 * stopped must stay stopped.
 */
export function durablePartOf(sb: SandboxRecord): string {
  return JSON.stringify([sb.id, sb.name, sb.created, sb.config, sb.state.stoppedByUser ?? false]);
}
