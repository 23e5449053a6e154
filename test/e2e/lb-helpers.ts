// Load from the outside for the load balancer suites: wrk for a fixed duration (bounded), and
// its report parsed into what the suites assert (requests, failed = non-2xx/3xx + socket errors).

import type { Lab } from "./lab.js";

export interface WrkResult {
  requests: number;
  /** Non-2xx/3xx responses plus socket errors (connect, read, write, timeout). */
  failed: number;
  rps: number;
  /** Milliseconds; NaN when wrk printed no distribution. */
  p99: number;
  raw: string;
}

export interface WrkOptions {
  host?: string;
  seconds: number;
  connections: number;
  threads?: number;
}

/** Starts wrk in the outside namespace; `done` gives its report once the run is over. */
export async function startWrk(lab: Lab, url: string, o: WrkOptions): Promise<{ done: Promise<string> }> {
  const argv = ["wrk", `-t${o.threads ?? 2}`, `-c${o.connections}`, `-d${o.seconds}s`, "--timeout", "5s", "--latency"];
  if (o.host) argv.push("-H", `Host: ${o.host}`);
  argv.push(url);
  const done = lab.inOutside(argv, { timeoutMs: (o.seconds + 30) * 1000 }).then((r) => {
    if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  });
  return { done };
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === "us" ? n / 1000 : unit === "s" ? n * 1000 : n;
}

export function parseWrk(raw: string): WrkResult {
  const requests = Number(/(\d+) requests in/.exec(raw)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(raw)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(raw)?.[1] ?? 0);
  const p = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(raw);
  return { requests, failed: non2xx + sockErrors, rps, p99: p ? toMs(p[1]!, p[2]!) : NaN, raw };
}
