// Helpers for the name suites (300-340): dig from inside a sandbox, parsed.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Lab, RunResult } from "./lab.js";

export interface DigResult {
  /** NOERROR, NXDOMAIN, REFUSED, SERVFAIL, ... or "TIMEOUT" (no answer), "ERROR" (other failure). */
  status: string;
  /** Answer records' data, in order (A: addresses, PTR: names with their trailing dot). */
  answers: string[];
  /** dig's ";; Query time", ms (undefined without an answer). */
  ms: number | undefined;
  raw: RunResult;
}

/** Parses `dig +noall +comments +answer +stats` output (one query). */
export function parseDig(r: RunResult): DigResult {
  const out = r.stdout;
  const st = /->>HEADER<<-.*status: ([A-Z]+)/.exec(out);
  const ms = /;; Query time: (\d+) msec/.exec(out);
  let status: string;
  if (st) status = st[1]!;
  else if (/timed out|no servers could be reached/i.test(out + r.stderr)) status = "TIMEOUT";
  else status = "ERROR";
  const answers: string[] = [];
  for (const line of out.split("\n")) {
    if (!line || line.startsWith(";")) continue;
    const f = line.trim().split(/\s+/);
    // name TTL class type data
    if (f.length >= 5 && f[2] === "IN") answers.push(f.slice(4).join(" "));
  }
  return { status, answers, ms: ms ? Number(ms[1]) : undefined, raw: r };
}

/**
 * `berth exec FROM -- dig @SERVER NAME` with one try of `timeS` seconds. `extra` goes to dig
 * (e.g. ["-t", "AAAA"], ["+tcp"], ["-x"] before the name with `reverse`).
 */
export async function dig(
  lab: Lab,
  from: string,
  server: string,
  name: string,
  opts: { type?: string; tcp?: boolean; reverse?: boolean; timeS?: number } = {},
): Promise<DigResult> {
  const argv = ["dig", `@${server}`, "+noall", "+comments", "+answer", "+stats", `+time=${opts.timeS ?? 1}`, "+tries=1"];
  if (opts.tcp) argv.push("+tcp");
  if (opts.type) argv.push("-t", opts.type);
  if (opts.reverse) argv.push("-x");
  argv.push(name);
  const r = await lab.berth(["exec", from, "--", ...argv], { timeoutMs: 20_000 });
  return parseDig(r);
}

/** Same, from a namespace path (the lab's host or outside, or a sandbox's netns) without berth exec. */
export async function digIn(lab: Lab, nsPath: string, server: string, name: string, opts: { type?: string; tcp?: boolean; timeS?: number } = {}): Promise<DigResult> {
  const argv = ["dig", `@${server}`, "+noall", "+comments", "+answer", "+stats", `+time=${opts.timeS ?? 1}`, "+tries=1"];
  if (opts.tcp) argv.push("+tcp");
  if (opts.type) argv.push("-t", opts.type);
  argv.push(name);
  return parseDig(await lab.inNs(nsPath, argv, { timeoutMs: 20_000 }));
}

export function show(d: DigResult): string {
  return `status=${d.status} answers=${JSON.stringify(d.answers)} ms=${d.ms}\nstdout:\n${d.raw.stdout}\nstderr:\n${d.raw.stderr}`;
}

/** The query got exactly these A records (in any order), NOERROR. */
export function assertA(d: DigResult, want: string[], what: string): void {
  assert.equal(d.status, "NOERROR", `${what}: ${show(d)}`);
  assert.deepEqual([...d.answers].sort(), [...want].sort(), `${what}: ${show(d)}`);
}

/** `berth exec NAME -- cat FILE` */
export function catIn(lab: Lab, name: string, file: string): Promise<string> {
  return lab.berthOk(["exec", name, "--", "cat", file]);
}

/** The environment of a sandbox's main process (State.Pid), read from /proc. */
export async function mainEnv(lab: Lab, name: string): Promise<Map<string, string>> {
  const [j] = await lab.berthJson<Array<{ State: { Pid: number } }>>(["inspect", name]);
  const pid = j?.State.Pid;
  assert.ok(pid, `${name} has no main pid`);
  const env = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return env;
}
