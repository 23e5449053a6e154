// When a sandbox record's write must also fsync its directory (make the new name durable at
// once), and when the file's own fsync is enough. Every record file is fsynced before it is
// renamed into place, so after a power loss a name always points at a whole record; what the
// directory fsync adds is that the newest version is the one found, not the previous one.
//   - The runtime part (status, PIDs, endpoints, ports, exit code, health, generation) describes
//     processes and kernel objects that a reboot ends anyway: reconcile finds them gone whatever
//     the record says, so an older runtime state after a power loss is harmless.
//   - A record just created: lost to a power loss in the moment after `create`, the sandbox is as
//     if never created (Docker's container records are written the same way: file fsynced,
//     directory not). The filesystem makes the name durable at its next journal commit (ext4:
//     within 5 s).
//   - Anything else (config, name, "stopped by the user") changed on an existing record: the
//     directory is fsynced too, so the change survives.
// A clean reboot loses nothing: the kernel writes everything back before it stops. Pure.
import type { SandboxRecord } from './types.js';

/**
 * The durable part of a sandbox record as text: two records with the same text differ only in
 * runtime state. stoppedByUser is durable: after a reboot, an unless-stopped sandbox the user
 * stopped must stay stopped.
 */
export function durablePartOf(sb: SandboxRecord): string {
  return JSON.stringify([sb.id, sb.name, sb.created, sb.config, sb.state.stoppedByUser ?? false]);
}

/** Whether writing `sb` needs the directory fsync, given the durable part last written (undefined: a new record). */
export function needsDirSync(lastDurable: string | undefined, sb: SandboxRecord): boolean {
  return lastDurable !== undefined && lastDurable !== durablePartOf(sb);
}
