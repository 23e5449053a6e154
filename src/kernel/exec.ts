// Running external programs: always an argv array, never a shell string.
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import type { SpawnReply, SpawnRequest } from './spawn-thread.js';
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

/**
 * Runs a program to its end. The program is started on a worker thread (kernel/spawn-thread.ts)
 * so that starting it never stalls the main event loop; if no worker can run, right here.
 */
export const run: Runner = (argv, opts = {}) => spawner.run(argv, opts);

/** Starts programs on one worker thread; the worker is re-made if it ever dies. */
class Spawner {
  private worker: Worker | undefined;
  private broken = false;
  private worked = false;
  private nextId = 1;
  private readonly pending = new Map<number, { argv: readonly string[]; opts: RunOptions; resolve: (r: RunResult) => void; reject: (e: Error) => void }>();

  run(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
    const w = this.ensure();
    if (!w) return runHere(argv, opts);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { argv, opts, resolve, reject });
      if (this.pending.size === 1) w.ref(); // a command in flight keeps the process alive
      const msg: SpawnRequest = { id, argv: [...argv] };
      if (opts.input !== undefined) msg.input = opts.input;
      if (opts.timeoutMs !== undefined) msg.timeoutMs = opts.timeoutMs;
      w.postMessage(msg);
    });
  }

  private ensure(): Worker | undefined {
    if (this.worker) return this.worker;
    if (this.broken) return undefined;
    try {
      const w = new Worker(new URL('./spawn-thread.js', import.meta.url));
      w.unref();
      w.on('message', (m: SpawnReply) => this.onReply(w, m));
      w.on('error', (err) => this.lost(w, err.message));
      w.on('exit', (code) => this.lost(w, `exited with code ${code}`));
      this.worker = w;
      return w;
    } catch {
      this.broken = true; // no worker file next to this one (a bundle): start programs here
      return undefined;
    }
  }

  private onReply(w: Worker, m: SpawnReply): void {
    this.worked = true;
    const p = this.pending.get(m.id);
    if (!p) return;
    if ('pid' in m) {
      p.opts.onSpawn?.(m.pid);
      return;
    }
    this.pending.delete(m.id);
    if (this.pending.size === 0) w.unref();
    if ('error' in m) p.reject(new Internal(`cannot run ${p.argv[0]}: ${m.error}`));
    else p.resolve({ code: m.code, stdout: m.stdout, stderr: m.stderr });
  }

  /** The worker died: its commands fail (they may or may not have run); the next one makes a new worker. */
  private lost(w: Worker, why: string): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    if (!this.worked) {
      // It never ran anything (cannot load, say): give up on workers; nothing pending was started.
      this.broken = true;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        runHere(p.argv, p.opts).then(p.resolve, p.reject);
      }
      return;
    }
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new Internal(`cannot run ${p.argv[0]}: the process-starting thread ${why}`));
    }
  }
}

const spawner = new Spawner();

/** Runs a program from the calling thread (where no worker thread can run). */
function runHere(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
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
}

/** Runs and throws an Internal error carrying the program's own message when it fails. */
export async function runOk(argv: readonly string[], opts?: RunOptions, runner: Runner = run): Promise<string> {
  const r = await runner(argv, opts);
  if (r.code !== 0) {
    const what = argv.slice(0, 3).join(' ');
    throw new Internal(`${what} failed: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}
