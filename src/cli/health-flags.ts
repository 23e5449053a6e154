// The --health-* flags shared by `berth run` and `berth service create/update`.
import type { Command } from 'commander';

export function addHealthFlags(c: Command): Command {
  return c
    .option('--health-cmd <cmd>', 'command run inside the sandbox to check health (sh -c)')
    .option('--health-tcp <port>', 'health is a TCP connect to PORT of the sandbox (berthd connects; no process)')
    .option('--health-http <port/path>', 'health is an HTTP GET of PORT/PATH (2xx or 3xx passes; no process)')
    .option('--health-interval <duration>', 'time between checks (default 30s)')
    .option('--health-timeout <duration>', 'longest a check may run (default 30s)')
    .option('--health-retries <n>', 'consecutive failures to become unhealthy (default 3)')
    .option('--health-start-period <duration>', 'failures in this time after start do not count (default 0s)')
    .option('--no-healthcheck', 'disable any health check');
}

export function labelsOf(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    const k = i < 0 ? kv : kv.slice(0, i);
    if (!k) throw new Error(`invalid label "${kv}": expected KEY=VALUE`);
    out[k] = i < 0 ? '' : kv.slice(i + 1);
  }
  return out;
}
