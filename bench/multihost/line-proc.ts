// A helper process spoken to in JSON lines (prober.ts, etcd-observer.ts), started inside a lab
// namespace with nsenter. Its stderr goes to a file for a failing run.
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';

export type Line = Record<string, unknown> & { op?: string };

export class LineProc {
  private readonly lines: Line[] = [];
  private readonly waiters: Array<{ pred: (l: Line) => boolean; resolve: (l: Line) => void }> = [];
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let l: Line;
      try {
        l = JSON.parse(text) as Line;
      } catch {
        return;
      }
      this.lines.push(l);
      for (const w of [...this.waiters]) {
        if (!w.pred(l)) continue;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(l);
      }
    });
    child.once('exit', () => (this.exited = true));
  }

  /** `nsenter --net=nsPath node script args`; resolves once it printed {"op":"ready"}. */
  static async start(name: string, nsPath: string, script: string, args: string[], stderrPath: string): Promise<LineProc> {
    const fd = openSync(stderrPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn('nsenter', [`--net=${nsPath}`, '--', process.execPath, script, ...args], { stdio: ['pipe', 'pipe', fd] });
    } finally {
      closeSync(fd);
    }
    const p = new LineProc(name, child);
    await p.next((l) => l.op === 'ready', 20_000);
    return p;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(o: object): void {
    this.child.stdin!.write(JSON.stringify(o) + '\n');
  }

  /** Every line so far (e.g. the observer's events). */
  all(): readonly Line[] {
    return this.lines;
  }

  /** The next line matching `pred` that arrives from now on. */
  next(pred: (l: Line) => boolean, timeoutMs: number): Promise<Line> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.name}: no awaited answer within ${timeoutMs} ms${this.exited ? ' (it exited)' : ''}`));
      }, timeoutMs);
      const w = {
        pred,
        resolve: (l: Line) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.waiters.push(w);
    });
  }

  /** Close its stdin, then SIGKILL by pid if it has not ended within a second. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.stdin!.end();
    await new Promise<void>((r) => {
      const t = setTimeout(() => {
        if (!this.exited && this.child.pid) process.kill(this.child.pid, 'SIGKILL');
        r();
      }, 1000);
      this.child.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
}
