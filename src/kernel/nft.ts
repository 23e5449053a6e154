// The nft executor: runs `nft -f -` with the planned text on stdin (one atomic transaction), lists
// berth's table. Thin: it never decides anything. Every command is an argv array; with `netns`
// set, commands run in that network namespace through `nsenter --net=PATH` (tests and labs).
// fakeRunner() records commands and answers them from a script, for unit tests.
import { Internal } from '../model/errors.js';
import { FAMILY, TABLE, type ExistingObjects } from '../plan/nft-ruleset.js';
import { run, type RunOptions, type RunResult, type Runner } from './exec.js';
import { NftChannel, oneLine } from './nft-channel.js';

export type { Runner, RunResult, RunOptions } from './exec.js';

const NETNS_PATH_RE = /^\/[A-Za-z0-9_./-]+$/;

/** argv prefixed to run in the network namespace at `netns` (a bind-mounted nsfs file), if any. */
export function inNetns(netns: string | undefined, argv: readonly string[]): string[] {
  if (netns === undefined) return [...argv];
  if (!NETNS_PATH_RE.test(netns) || netns.includes('..')) throw new Internal(`invalid network namespace path "${netns}"`);
  return ['nsenter', `--net=${netns}`, '--', ...argv];
}

/** An nft failure: the text that was refused and nft's own message (with line numbers). */
/** A chain as `nft -j list chains` describes it. */
export interface ChainInfo {
  family: string;
  table: string;
  name: string;
  type?: string;
  hook?: string;
  prio?: number;
  policy?: string;
}

export class NftError extends Internal {
  constructor(
    message: string,
    readonly script: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export class Nft {
  /** berth's own changes through one long-lived `nft -i` (real runner only; BERTH_NFT_CHANNEL=0: none). */
  private readonly channel: NftChannel | undefined;

  constructor(
    private readonly runner: Runner = run,
    private readonly netns?: string,
    private readonly bin = 'nft',
    /** Called with the PID of every nft process that changes the ruleset (see kernel/nft-monitor.ts). */
    private readonly onSpawn?: (pid: number) => void,
  ) {
    const wanted = runner === run && process.env['BERTH_NFT_CHANNEL'] !== '0';
    this.channel = wanted ? new NftChannel(inNetns(netns, [bin, '-i'])) : undefined;
  }

  private exec(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.runner(inNetns(this.netns, [this.bin, ...args]), opts);
  }

  /** Applies a script as one transaction: all of it, or (on any error) none of it. */
  async apply(script: string): Promise<void> {
    if (script.trim() === '') return;
    const line = this.channel ? oneLine(script) : undefined;
    if (this.channel && line !== undefined) {
      const err = await this.channel.apply(line, this.onSpawn);
      if (err.includes('Error')) {
        const msg = err.trim().split('\n').slice(0, 6).join('\n');
        throw new NftError(`nft refused berth's ruleset change: ${msg}`, script, err);
      }
      return;
    }
    const r = await this.exec(['-f', '-'], { input: script, timeoutMs: 60_000, ...(this.onSpawn ? { onSpawn: this.onSpawn } : {}) });
    if (r.code !== 0) {
      const msg = (r.stderr || r.stdout).trim().split('\n').slice(0, 6).join('\n');
      throw new NftError(`nft refused berth's ruleset change: ${msg}`, script, r.stderr);
    }
  }

  /** Starts the long-lived nft ahead of the first change (no-op without one). */
  warm(): void {
    this.channel?.warm();
  }

  /** Ends the long-lived nft, if one runs (berthd's shutdown, tests). */
  close(): void {
    this.channel?.close();
  }

  /** `nft list table inet berth`, or undefined when the table does not exist. */
  async listTable(): Promise<string | undefined> {
    const r = await this.exec(['list', 'table', FAMILY, TABLE]);
    if (r.code !== 0) return undefined;
    return r.stdout;
  }

  /** Parsed `nft -j ARGS`; undefined when nft fails (e.g. the object does not exist). */
  async json(args: readonly string[]): Promise<Array<Record<string, unknown>> | undefined> {
    const r = await this.exec(['-j', ...args]);
    if (r.code !== 0) return undefined;
    try {
      const doc = JSON.parse(r.stdout) as { nftables?: Array<Record<string, unknown>> };
      return doc.nftables ?? [];
    } catch {
      throw new Internal(`cannot parse the output of nft -j ${args.join(' ')}`);
    }
  }

  /** Names of the chains, sets and maps in berth's table, or undefined when it does not exist. */
  async objects(): Promise<ExistingObjects | undefined> {
    const items = await this.json(['list', 'table', FAMILY, TABLE]);
    if (!items) return undefined;
    const names = (kind: string): string[] =>
      items.flatMap((i) => {
        const o = i[kind] as { name?: string } | undefined;
        return o?.name ? [o.name] : [];
      });
    return { chains: names('chain'), sets: names('set'), maps: names('map') };
  }

  /** Every chain of every table (family, table, name, hook, prio, policy); [] when nft cannot list them. */
  async chains(): Promise<ChainInfo[]> {
    const items = (await this.json(['list', 'chains']).catch(() => undefined)) ?? [];
    return items.map((i) => i['chain'] as ChainInfo | undefined).filter((c): c is ChainInfo => !!c && typeof c.name === 'string');
  }

  /** Handles of the rules in one chain whose comment is exactly `comment`. */
  async ruleHandles(c: { family: string; table: string; name: string }, comment: string): Promise<number[]> {
    const items = (await this.json(['-a', 'list', 'chain', c.family, c.table, c.name])) ?? [];
    return items
      .map((i) => i['rule'] as { handle?: number; comment?: string } | undefined)
      .filter((r): r is { handle: number; comment: string } => !!r && r.comment === comment && typeof r.handle === 'number')
      .map((r) => r.handle);
  }

  /** Number of rules per chain in berth's table. */
  async ruleCounts(): Promise<Record<string, number>> {
    const items = (await this.json(['list', 'table', FAMILY, TABLE])) ?? [];
    const out: Record<string, number> = {};
    for (const i of items) {
      const c = i['chain'] as { name?: string } | undefined;
      if (c?.name) out[c.name] = out[c.name] ?? 0;
      const r = i['rule'] as { chain?: string } | undefined;
      if (r?.chain) out[r.chain] = (out[r.chain] ?? 0) + 1;
    }
    return out;
  }
}

export interface RecordedCall {
  argv: string[];
  input?: string;
}

export type FakeRunner = Runner & { calls: RecordedCall[] };

/**
 * A Runner that runs nothing: it records every call and answers with `answer(argv, input)`
 * (default: success with no output). Same interface as the real one.
 */
export function fakeRunner(answer?: (argv: readonly string[], input?: string) => Partial<RunResult> | undefined): FakeRunner {
  const calls: RecordedCall[] = [];
  const fn = (async (argv: readonly string[], opts?: RunOptions): Promise<RunResult> => {
    calls.push(opts?.input === undefined ? { argv: [...argv] } : { argv: [...argv], input: opts.input });
    const a = answer?.(argv, opts?.input) ?? {};
    return { code: a.code ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  }) as FakeRunner;
  fn.calls = calls;
  return fn;
}
