// sysctl reads and writes, through the `sysctl` program (argv arrays; in another network
// namespace with `netns`). Thin: which keys and values berth needs is decided by the caller.
import { inNetns } from './nft.js';
import { run, type Runner, type RunResult } from './exec.js';

/** Outcome of one write: ok, or the program's own message. */
export type SysctlWrite = { ok: true } | { ok: false; error: string };

/** A key with an interface name in it uses '/' separators: net/ipv4/conf/IFNAME/route_localnet. */
export const IFNAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;

export class Sysctl {
  constructor(
    private readonly runner: Runner = run,
    private readonly netns?: string,
  ) {}

  private async exec(argv: readonly string[]): Promise<RunResult> {
    try {
      return await this.runner(inNetns(this.netns, argv));
    } catch (err) {
      return { code: 127, stdout: '', stderr: (err as Error).message }; // sysctl not installed
    }
  }

  /** The current value, or an error message. */
  async read(key: string): Promise<{ value: string } | { error: string }> {
    const r = await this.exec(['sysctl', '-n', key]);
    return r.code === 0 ? { value: r.stdout.trim() } : { error: r.stderr.trim() };
  }

  async write(key: string, value: string): Promise<SysctlWrite> {
    const r = await this.exec(['sysctl', '-q', '-w', `${key}=${value}`]);
    return r.code === 0 ? { ok: true } : { ok: false, error: r.stderr.trim() };
  }
}
