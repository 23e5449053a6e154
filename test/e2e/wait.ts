// Waiting in e2e tests: poll until a condition holds, or fail with a message that says what was
// awaited and what was last seen. No fixed sleeps: on a busy machine a wait takes longer, it
// does not pass or fail by luck.

/**
 * Polls `probe` until it returns a value that is not undefined/false, and returns that value.
 * Throws after `timeoutMs` (default 20 s) with `what` and the last `describe()`.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; describe?: () => Promise<string> | string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      lastError = "";
    } catch (e) {
      lastError = ` (last error: ${(e as Error).message})`;
    }
    if (Date.now() > deadline) {
      const seen = opts.describe ? `; last seen: ${await opts.describe()}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError}${seen}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}
