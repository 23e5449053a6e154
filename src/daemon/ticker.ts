// Periodic work that never overlaps: the next run is scheduled only when the current one has
// finished, so a poll slower than its interval (a busy machine, a slow nft) never starts a
// second copy of itself. A run that throws is logged; the ticker goes on.
import { stackOf } from './guard.js';
import type { Logger } from './log.js';

export interface Ticker {
  stop(): void;
  /** Settles when the run in progress (if any) has finished. */
  idle(): Promise<void>;
}

export function every(name: string, intervalMs: number, fn: () => Promise<void>, log: Logger): Ticker {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(tick, intervalMs);
    timer.unref();
  };
  const tick = () => {
    timer = undefined;
    current = (async () => {
      try {
        await fn();
      } catch (err) {
        log('error', `${name}: ${stackOf(err)}`);
      }
    })();
    void current.then(schedule);
  };
  schedule();
  return {
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    idle: () => current,
  };
}
