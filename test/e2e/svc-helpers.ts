// Helpers of the health and service suites: waiting for a health status, reading it.
import assert from "node:assert/strict";
import type { Lab } from "./lab.js";

export interface HealthJson {
  Status: string;
  FailingStreak: number;
  Log: Array<{ Start: string; End: string; ExitCode: number; Output: string }>;
}

export async function healthOf(lab: Lab, name: string): Promise<HealthJson | undefined> {
  const [j] = await lab.berthJson<Array<{ State: { Health?: HealthJson } }>>(["inspect", name]);
  return j?.State.Health;
}

/** Polls until `pred` holds, failing with `what` and the last value seen after `timeoutMs`. */
export async function waitFor<T>(what: string, get: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await get();
    if (pred(last)) return last;
    if (Date.now() > end) assert.fail(`${what}: not reached in ${timeoutMs} ms; last seen ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function waitHealth(lab: Lab, name: string, status: string, timeoutMs = 30_000): Promise<HealthJson | undefined> {
  return waitFor(`${name} becomes ${status}`, () => healthOf(lab, name), (h) => h?.Status === status, timeoutMs);
}
