// A long-lived `nft monitor` child: the kernel tells it every ruleset change, one line per object
// and a closing "# new generation N by process PID (COMM)" line per transaction. This module
// turns that stream into one event per transaction (its lines and the PID that committed it), and
// restarts the child with backoff if it ends. Thin: what a change means is decided by the caller
// (daemon/firewall-guard.ts).
//
// If berthd dies without stopping it, the orphaned monitor ends at the next ruleset change (its
// stdout is a closed pipe: the write kills it with SIGPIPE); the berthd that starts next makes one.
import { spawn, type ChildProcess } from 'node:child_process';
import { inNetns } from './nft.js';

/** One committed nftables transaction as the monitor printed it. */
export interface NftTransaction {
  /** Its object lines ("add chain ip filter FORWARD { ... }", "delete table inet berth", ...). */
  lines: string[];
  /** The process that committed it, when nft says (it does since nftables 0.9.x). */
  pid?: number;
  comm?: string;
}

export interface NftMonitorOptions {
  /** Network namespace to watch (a bind-mounted nsfs path); default: berthd's own. */
  netns?: string;
  onTransaction: (t: NftTransaction) => void;
  /** The monitor (re)started: changes made while it was not running were missed. */
  onStart?: () => void;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;
  /** Backoff after the child ends: first delay and cap, in ms. */
  backoffMs?: { first: number; max: number };
  bin?: string;
}

const GENERATION_RE = /^# new generation \d+ by process (\d+) \(([^)]*)\)/;

/** Splits monitor output into transactions; keeps a partial line or transaction for the next chunk. */
export class MonitorParser {
  private partial = '';
  private lines: string[] = [];

  /** Feeds a chunk of stdout; returns the transactions it completed. */
  push(chunk: string): NftTransaction[] {
    const out: NftTransaction[] = [];
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const raw of parts) {
      const line = raw.trim();
      if (line === '') continue;
      const g = GENERATION_RE.exec(line);
      if (g) {
        out.push({ lines: this.lines, pid: Number(g[1]), comm: g[2]! });
        this.lines = [];
      } else if (line.startsWith('# new generation')) {
        out.push({ lines: this.lines }); // an nft that does not name the process
        this.lines = [];
      } else {
        this.lines.push(line);
      }
    }
    return out;
  }
}

export class NftMonitor {
  private child: ChildProcess | undefined;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private startedAt = 0;

  constructor(private readonly opts: NftMonitorOptions) {
    this.delay = opts.backoffMs?.first ?? 250;
  }

  /** PID of the running child, if any (for tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.spawnChild();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }

  private spawnChild(): void {
    const argv = inNetns(this.opts.netns, [this.opts.bin ?? 'nft', 'monitor']);
    const parser = new MonitorParser();
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      this.ended(`cannot start: ${(err as Error).message}`);
      return;
    }
    this.child = child;
    this.startedAt = Date.now();
    let stderr = '';
    let reported = false;
    const end = (why: string) => {
      if (reported) return;
      reported = true;
      if (this.child === child) this.child = undefined;
      this.ended(why + (stderr.trim() ? `: ${stderr.trim().slice(0, 300)}` : ''));
    };
    child.on('error', (err) => end(`cannot run ${argv.join(' ')}: ${err.message}`));
    child.on('exit', (code, signal) => end(`exited (code ${code}, signal ${signal})`));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      for (const t of parser.push(d)) this.opts.onTransaction(t);
    });
    child.on('spawn', () => {
      this.opts.log('debug', `nft monitor started (pid ${child.pid})`);
      this.opts.onStart?.();
    });
  }

  private ended(why: string): void {
    if (this.stopped) return;
    // A monitor that ran for a minute was healthy: start again quickly.
    if (Date.now() - this.startedAt > 60_000) this.delay = this.opts.backoffMs?.first ?? 250;
    this.opts.log('warn', `nft monitor ${why}; starting it again in ${this.delay} ms`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.spawnChild();
    }, this.delay);
    this.timer.unref();
    this.delay = Math.min(this.delay * 2, this.opts.backoffMs?.max ?? 30_000);
  }
}
