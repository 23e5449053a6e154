// berthd's channel to its long-lived netlink helper (native/berth-netlink.c, built next to this
// file by scripts/build-native.sh): namespaces, veths, addresses, routes and bridge ports are
// changed by writing one line to it and reading one reply, so a sandbox's start and removal spawn
// no process (each spawn costs 4-7 ms here). The lines are planned by plan/link-plan.ts (NlOps);
// this module only carries them. Without the binary (no C compiler when built) netlinkHelper()
// is undefined and callers run ip/unshare as before.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Internal } from '../model/errors.js';
import type { NlOps } from '../plan/link-plan.js';
import { holdChild } from './child-hold.js';

/** A request the helper did not answer in this time is failed and the helper replaced. */
const REPLY_TIMEOUT_MS = 15_000;

interface Pending {
  ops: NlOps;
  resolve: (words: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class NetlinkHelper {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private buf = '';

  constructor(private readonly bin: string) {}

  /** PID of the running helper, if any (tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Runs the ops in order; resolves with what the helper answered after "ok" (only `listeners`
   * answers anything), rejects with the failing op and the kernel's message (the ops before it
   * were done).
   */
  run(ops: NlOps): Promise<string> {
    if (ops.length === 0) return Promise.resolve('');
    const child = this.ensure();
    const id = String(this.nextId++);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Internal(`berth-netlink did not answer in ${REPLY_TIMEOUT_MS / 1000} s (${ops[0]} ...)`));
        this.child?.kill('SIGKILL');
      }, REPLY_TIMEOUT_MS);
      this.pending.set(id, { ops, resolve, reject, timer });
      if (this.pending.size === 1) this.hold(child, true);
      child.stdin.write(`${id}\t${ops.join('\t')}\n`);
    });
  }

  /** Starts the helper now (at berthd's start), so the first sandbox does not wait for it. */
  warm(): void {
    this.ensure();
  }

  /** Stops the helper (berthd's shutdown, tests); a later run() starts another. */
  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }

  private ensure(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn(this.bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.setEncoding('utf8').on('data', (d: string) => this.onData(d));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-500)));
    child.stdin.on('error', () => undefined);
    const lost = (why: string) => {
      if (this.child === child) this.child = undefined;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        clearTimeout(p.timer);
        p.reject(new Internal(`berth-netlink ${why}${stderr ? `: ${stderr.trim()}` : ''}`));
      }
    };
    child.on('error', (e) => lost(`cannot run: ${e.message}`));
    child.on('exit', (code, signal) => lost(`exited (${signal ?? code})`));
    this.hold(child, false);
    return child;
  }

  private hold(child: ChildProcessWithoutNullStreams, on: boolean): void {
    holdChild(child, on, 'stdout');
  }

  private onData(d: string): void {
    this.buf += d;
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const [id = '', verdict, ...rest] = line.split(' ');
      const p = this.pending.get(id);
      if (!p) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      if (this.pending.size === 0 && this.child) this.hold(this.child, false);
      if (verdict === 'ok') p.resolve(rest.join(' '));
      else p.reject(new Internal(rest.slice(1).join(' ').trim() || `berth-netlink refused op ${rest[0]}`));
    }
  }
}

let shared: NetlinkHelper | undefined;
let looked = false;

/**
 * The helper next to this module, or undefined when it was not built (or BERTH_NETLINK_HELPER=0
 * asks for the ip/unshare processes instead).
 */
export function netlinkHelper(): NetlinkHelper | undefined {
  if (looked) return shared;
  looked = true;
  if (process.env['BERTH_NETLINK_HELPER'] === '0') return undefined;
  const bin = fileURLToPath(new URL('./berth-netlink', import.meta.url));
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    return undefined;
  }
  shared = new NetlinkHelper(bin);
  return shared;
}
