// berthd's channel to its long-lived netlink helper (native/berth-netlink.c, built next to this
// file by scripts/build-native.sh): namespaces, veths, addresses, routes and bridge ports are
// changed by writing one line to it and reading one reply, so a sandbox's start and removal spawn
// no process (each spawn costs 4-7 ms here). The lines are planned by plan/link-plan.ts (NlOps);
// this module only carries them. Without the binary (no C compiler when built) netlinkHelper()
// is undefined and callers run ip/unshare as before.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Internal } from '../model/errors.js';
import type { NlOps } from '../plan/link-plan.js';
import { holdChild } from './child-hold.js';
import { nativeBinary } from './binaries.js';

/** A request the helper did not answer in this time is failed and the helper replaced. */
const REPLY_TIMEOUT_MS = 15_000;

interface Pending {
  ops: readonly string[];
  resolve: (words: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** A spawn: its exit is watched from the moment its reply is read. */
  spawn?: boolean;
}

/** A program the helper started (spawn). */
export interface Spawned {
  pid: number;
  /**
   * Settles when it ends, with its code as sh gives it (status, or 128 + signal); with undefined
   * when the helper was lost first (its children then live on, parentless: watch them otherwise).
   */
  exited: Promise<number | undefined>;
}

/** "x" + hex: how spawn's words carry any byte but NUL through the line protocol. */
function word(value: string): string {
  return `x${Buffer.from(value, 'utf8').toString('hex')}`;
}

export class NetlinkHelper {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private buf = '';
  /** Programs started here that have not ended, by PID, with the helper process that started them. */
  private readonly running = new Map<number, { by: ChildProcessWithoutNullStreams; settle: (code: number | undefined) => void }>();

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
    return this.request(ops, false);
  }

  /**
   * Starts argv (argv[0] an absolute path) in a session of its own with exactly env, stdin
   * /dev/null and stdout/stderr appended to logPath; resolves once it is exec'd. No value may
   * hold a NUL (the kernel's argv cannot either).
   */
  async spawn(argv: readonly string[], env: Readonly<Record<string, string>>, logPath: string): Promise<Spawned> {
    const words = [logPath, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].map(word);
    const reply = await this.request([`spawn ${words.join(' ')} - ${argv.map(word).join(' ')}`], true);
    const pid = Number(reply.trim());
    // Made when the reply was read (the exit may have been heard since): taken once, here.
    const exited = this.exits.get(pid)!;
    this.exits.delete(pid);
    return { pid, exited };
  }

  /** Exit promises of spawned programs, made when their spawn's reply is read. */
  private readonly exits = new Map<number, Promise<number | undefined>>();

  private request(ops: readonly string[], spawn: boolean): Promise<string> {
    if (ops.length === 0) return Promise.resolve('');
    const child = this.ensure();
    const id = String(this.nextId++);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Internal(`berth-netlink did not answer in ${REPLY_TIMEOUT_MS / 1000} s (${ops[0]} ...)`));
        this.child?.kill('SIGKILL');
      }, REPLY_TIMEOUT_MS);
      this.pending.set(id, { ops, resolve, reject, timer, spawn });
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
    child.stdout.setEncoding('utf8').on('data', (d: string) => this.onData(d, child));
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
      // Its children live on without it: their ends are no longer heard here.
      for (const [pid, r] of this.running) {
        if (r.by !== child) continue;
        r.settle(undefined);
        this.running.delete(pid);
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

  private onData(d: string, from: ChildProcessWithoutNullStreams): void {
    this.buf += d;
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const [id = '', verdict, ...rest] = line.split(' ');
      if (id === '0' && verdict === 'exit') {
        const pid = Number(rest[0]);
        this.running.get(pid)?.settle(Number(rest[1]));
        this.running.delete(pid);
        continue;
      }
      const p = this.pending.get(id);
      if (!p) continue;
      if (p.spawn && verdict === 'ok') {
        // Before anything else is read: its exit event may be the very next line.
        const pid = Number(rest[0]);
        this.exits.set(pid, new Promise((settle) => this.running.set(pid, { by: from, settle })));
      }
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
  const bin = nativeBinary(fileURLToPath(new URL('./berth-netlink', import.meta.url)), 'BERTH_NETLINK_HELPER');
  if (!bin) return undefined;
  shared = new NetlinkHelper(bin);
  return shared;
}
