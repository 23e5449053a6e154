// Small throw-away network namespace helpers for the firewall kernel test (no berthd needed).
// Every name starts with "fw"; everything created is recorded and removed by teardown(), which
// also kills (by PID) every background process it started. Nothing touches the machine's own
// namespace: interfaces are created inside the lab's namespaces (`ip -n`), commands run through
// `nsenter --net=/run/netns/NAME`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { run, type RunResult } from '../../src/kernel/exec.js';

const NAME_RE = /^fw[a-z0-9-]{1,13}$/;

export class FwNetns {
  readonly prefix: string;
  private readonly spaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  constructor() {
    this.prefix = `fw${(process.pid % 100000).toString(36)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;
  }

  /** Full namespace name for a short role name ("h", "o", "s1"). */
  name(role: string): string {
    const n = `${this.prefix}-${role}`;
    if (!NAME_RE.test(n)) throw new Error(`bad namespace name ${n}`);
    return n;
  }

  path(role: string): string {
    return `/run/netns/${this.name(role)}`;
  }

  async add(role: string): Promise<void> {
    await must(['ip', 'netns', 'add', this.name(role)]);
    this.spaces.push(this.name(role));
    await this.must(role, ['ip', 'link', 'set', 'lo', 'up']);
  }

  exec(role: string, argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(['nsenter', `--net=${this.path(role)}`, '--', ...argv], { timeoutMs: 10_000, ...opts });
  }

  async must(role: string, argv: readonly string[], input?: string): Promise<string> {
    const r = await this.exec(role, argv, input === undefined ? {} : { input });
    if (r.code !== 0) throw new Error(`[${role}] ${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Starts a long-running command in a namespace; killed (by PID) at teardown. */
  background(role: string, argv: readonly string[]): ChildProcess {
    const child = spawn('nsenter', [`--net=${this.path(role)}`, '--', ...argv], { stdio: 'ignore', detached: true });
    this.children.push(child);
    return child;
  }

  /** A veth pair: `hostSide` in namespace `a`, `peerSide` in namespace `b`. */
  async veth(a: string, hostSide: string, b: string, peerSide: string): Promise<void> {
    await this.must(a, ['ip', 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', peerSide, 'netns', this.name(b)]);
  }

  async teardown(): Promise<string[]> {
    const problems: string[] = [];
    for (const c of this.children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(-c.pid, 'SIGKILL'); // the process group we created (detached), by id
        } catch {
          /* already gone */
        }
      }
    }
    for (const ns of this.spaces.reverse()) {
      const r = await run(['ip', 'netns', 'del', ns]);
      if (r.code !== 0) problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
      if (existsSync(`/run/netns/${ns}`)) problems.push(`namespace ${ns} left behind`);
    }
    return problems;
  }
}

async function must(argv: readonly string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
