// iptables (legacy or nft backend) for the one thing berth does there: keep its accept rule in
// another firewall's FORWARD chain. Thin: argv arrays, in another network namespace with
// `netns`; what to insert or delete is decided by daemon/firewall.ts from plan/foreign-rules.ts.
import { inNetns } from './nft.js';
import { run, type RunOptions, type Runner, type RunResult } from './exec.js';

export class Iptables {
  constructor(
    private readonly runner: Runner = run,
    private readonly netns?: string,
    /** Called with the PID of every iptables process that may change the ruleset. */
    private readonly onSpawn?: (pid: number) => void,
  ) {}

  private async exec(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    try {
      return await this.runner(inNetns(this.netns, ['iptables', ...argv]), opts);
    } catch (err) {
      return { code: 127, stdout: '', stderr: (err as Error).message }; // iptables not installed
    }
  }

  /** True when `iptables` is the nf_tables backend (its chains are also nft chains). */
  async isNftBackend(): Promise<boolean> {
    return (await this.backend()) === 'nft';
  }

  /**
   * Which kernel interface `iptables` drives: "nft" (its changes show in nft monitor), "legacy"
   * (x_tables: they do not), or undefined when iptables cannot be run.
   */
  async backend(): Promise<'nft' | 'legacy' | undefined> {
    const r = await this.exec(['--version']);
    if (r.code !== 0) return undefined;
    return r.stdout.includes('nf_tables') ? 'nft' : 'legacy';
  }

  /** `iptables -S FORWARD` as lines, or undefined when iptables cannot be run. */
  async listForward(): Promise<string[] | undefined> {
    const r = await this.exec(['-w', '-S', 'FORWARD']);
    if (r.code !== 0) return undefined;
    return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  /** Inserts `rule` first in FORWARD; the error text on failure. */
  async insertForward(rule: readonly string[]): Promise<string | undefined> {
    const r = await this.exec(['-w', '-I', 'FORWARD', '1', ...rule], this.track());
    return r.code === 0 ? undefined : r.stderr.trim();
  }

  /** Deletes one copy of `rule` from FORWARD; false when there was none. */
  async deleteForward(rule: readonly string[]): Promise<boolean> {
    return (await this.exec(['-w', '-D', 'FORWARD', ...rule], this.track())).code === 0;
  }

  private track(): RunOptions {
    return this.onSpawn ? { onSpawn: this.onSpawn } : {};
  }
}
