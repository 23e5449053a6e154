// Process helpers for the e2e lab: run a command to completion, or start one in the background
// with its output in a log file. Every command is an argv array; nothing goes through a shell.

import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

export interface RunOptions {
  /** Kill the command (SIGKILL) after this long. Default 30 s. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  /** Environment; default: this process's, without the test runner's variables. */
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  argv: readonly string[];
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Called with each child's pid when it starts and when it ends, so a lab can kill leftovers. */
export interface PidTracker {
  add(pid: number): void;
  delete(pid: number): void;
}

/** The environment children get: ours, minus what makes a child node think it is a test file. */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env["NODE_TEST_CONTEXT"];
  return env;
}

export function run(argv: readonly string[], opts: RunOptions = {}, tracker?: PidTracker): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error("run: empty argv");
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: opts.env ?? childEnv(),
    });
    const pid = child.pid;
    if (pid !== undefined) tracker?.add(pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let spawnError: Error | undefined;
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on("error", () => undefined); // the command may exit without reading
      child.stdin.end(opts.input);
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      spawnError = e;
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) tracker?.delete(pid);
      let stderr = Buffer.concat(err).toString("utf8");
      if (spawnError) stderr += `${stderr ? "\n" : ""}spawn ${cmd}: ${spawnError.message}`;
      resolve({
        argv,
        code: spawnError ? 127 : code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr,
        timedOut,
      });
    });
  });
}

/** A one-paragraph description of a failed command, for error messages. */
export function describeFailure(r: RunResult): string {
  const how = r.timedOut ? "timed out" : r.code === null ? `was killed by ${r.signal}` : `exited ${r.code}`;
  const parts = [`\`${r.argv.join(" ")}\` ${how}`];
  if (r.stderr.trim()) parts.push(`stderr: ${r.stderr.trim()}`);
  if (r.stdout.trim()) parts.push(`stdout: ${r.stdout.trim().slice(0, 2000)}`);
  return parts.join("\n");
}

/** Runs the command and returns its stdout; throws with stderr when it fails or times out. */
export async function runOk(argv: readonly string[], opts: RunOptions = {}, tracker?: PidTracker): Promise<string> {
  const r = await run(argv, opts, tracker);
  if (r.code !== 0 || r.timedOut) throw new Error(describeFailure(r));
  return r.stdout;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BgProcess {
  readonly name: string;
  readonly pid: number;
  readonly argv: readonly string[];
  /** stdout and stderr of the process. */
  readonly logPath: string;
  /** Resolves when the process has ended. */
  readonly exited: Promise<Exit>;
  running(): boolean;
  log(): string;
  /** Sends `signal` (default SIGTERM), waits up to `timeoutMs` (default 5 s), then SIGKILL. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

export interface SpawnOptions {
  name: string;
  logPath: string;
  env?: NodeJS.ProcessEnv;
  /** When given, wait until the log matches it; throw (after killing the process) if the
   * process ends first or `readyTimeoutMs` (default 10 s) passes. */
  readyPattern?: RegExp;
  readyTimeoutMs?: number;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export async function spawnBg(argv: readonly string[], opts: SpawnOptions, tracker?: PidTracker): Promise<BgProcess> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error("spawnBg: empty argv");
  const fd = openSync(opts.logPath, "a");
  let child;
  try {
    child = spawn(cmd, args, { stdio: ["ignore", fd, fd], env: opts.env ?? childEnv() });
  } finally {
    closeSync(fd);
  }
  const spawned = new Promise<number>((resolve, reject) => {
    child.once("spawn", () => resolve(child.pid ?? -1));
    child.once("error", reject);
  });
  const pid = await spawned.catch((e: Error) => {
    throw new Error(`${opts.name}: cannot start \`${argv.join(" ")}\`: ${e.message}`);
  });
  tracker?.add(pid);
  let ended: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => {
      ended = { code, signal };
      tracker?.delete(pid);
      resolve(ended);
    });
  });
  const proc: BgProcess = {
    name: opts.name,
    pid,
    argv,
    logPath: opts.logPath,
    exited,
    running: () => ended === undefined,
    log: () => readLog(opts.logPath),
    async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 5000): Promise<Exit> {
      if (ended) return ended;
      child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
  if (opts.readyPattern) {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
    for (;;) {
      if (opts.readyPattern.test(proc.log())) break;
      if (!proc.running()) {
        throw new Error(`${opts.name} ended (${JSON.stringify(ended)}) before it was ready; its log:\n${proc.log()}`);
      }
      if (Date.now() > deadline) {
        await proc.stop("SIGKILL");
        throw new Error(`${opts.name} was not ready after ${opts.readyTimeoutMs ?? 10_000} ms; its log:\n${proc.log()}`);
      }
      await sleep(25);
    }
  }
  return proc;
}
