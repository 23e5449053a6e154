// Running external programs: always an argv array, never a shell string.
import { spawn } from 'node:child_process';
import { Internal } from '../model/errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  /** Told the child's PID once it runs (the nft monitor tells berth's own changes from others'). */
  onSpawn?: (pid: number) => void;
}

export type Runner = (argv: readonly string[], opts?: RunOptions) => Promise<RunResult>;

export const run: Runner = (argv, opts = {}) =>
  new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (!cmd) return reject(new Internal('empty command'));
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Internal(`cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });

/** Runs and throws an Internal error carrying the program's own message when it fails. */
export async function runOk(argv: readonly string[], opts?: RunOptions, runner: Runner = run): Promise<string> {
  const r = await runner(argv, opts);
  if (r.code !== 0) {
    const what = argv.slice(0, 3).join(' ');
    throw new Internal(`${what} failed: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}
