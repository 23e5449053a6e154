// The last line of defence: an exception no request, timer or socket handler caught is logged
// loudly with its stack, and berthd goes on serving. Every path is meant to catch its own errors
// (the Router answers 500, pollers log and carry on); reaching these handlers is a bug to fix,
// but never a reason for a client to lose the daemon that runs its sandboxes.
import type { Logger } from './log.js';

export function stackOf(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

let installed = false;

export function guardProcess(log: Logger): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtException', (err, origin) => {
    log('error', `BUG: uncaught exception (${origin}), berthd keeps running: ${stackOf(err)}`);
  });
  process.on('unhandledRejection', (reason) => {
    log('error', `BUG: unhandled promise rejection, berthd keeps running: ${stackOf(reason)}`);
  });
}
