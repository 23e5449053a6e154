// berthd's firewall: applies the planned nftables ruleset to the namespace berthd runs in.
//
//   const fw = new Firewall({ mode: cfg.firewall }, run, log);
//   await fw.reconcile(firewallView(state, { hostServices }));   // at start: the whole table
//   await fw.sync(firewallView(state, { hostServices }));        // after every change: the delta
//   await fw.rules();                                            // text for `berth rules`
//   await fw.verify(why);                                        // someone else changed the ruleset
//
// reconcile() also sets the sysctls berth needs (ip_forward, bridge-nf-call-iptables,
// route_localnet on berth bridges) and, when another firewall drops forwarded traffic (iptables
// FORWARD policy DROP, or an nft forward chain with policy drop), inserts one rule there that
// accepts what berth's own chain accepted (packets carrying MARK_BERTH), commented "berth: ...",
// and says so in the log. verify() compares the live table with the plan and rebuilds it when it
// drifted (daemon/firewall-guard.ts calls it after others' changes). cleanup() removes those rules
// and berth's chains and sets; the user chain and chains berth did not create stay unless asked.
// This file decides; the text is planned in plan/ (nft-ruleset.ts, foreign-rules.ts,
// nft-drift.ts) and run by kernel/ (nft.ts, iptables.ts, sysctl.ts).
import type { IfName } from '../model/types.js';
import { Internal } from '../model/errors.js';
import { run, type Runner } from '../kernel/exec.js';
import { Iptables } from '../kernel/iptables.js';
import { Nft } from '../kernel/nft.js';
import { IFNAME_RE, Sysctl } from '../kernel/sysctl.js';
import { emptyView, type FirewallView } from '../plan/firewall-view.js';
import {
  FOREIGN_COMMENT,
  foreignDeleteNft,
  foreignInsertNft,
  foreignRuleText,
  type ForwardChain,
  iptablesForwardDrops,
  iptablesOwnRules,
  IPT_MARK,
  IPT_RULE,
  isForeignForwardChain,
} from '../plan/foreign-rules.js';
import { tableDrift } from '../plan/nft-drift.js';
import { ElementsBuilder } from '../plan/nft-elements-builder.js';
import {
  elementsOf,
  FAMILY,
  FORWARD_PRIORITY,
  fullRuleset,
  removalRuleset,
  TABLE,
} from '../plan/nft-ruleset.js';
import type { LogLevel } from './config.js';

export { FOREIGN_COMMENT };

export type FirewallLogger = (level: LogLevel, msg: string) => void;

export interface FirewallOptions {
  mode: 'nftables' | 'none';
  /** Act in the network namespace bind-mounted at this path (tests); default: berthd's own. */
  netns?: string;
  /** Told the PID of every nft or iptables process berth starts that changes the ruleset. */
  onSpawn?: (pid: number) => void;
}

/** A chain of another firewall berth put an accept rule into. */
export interface ForeignRule {
  kind: 'iptables' | 'nft';
  /** "FORWARD" for iptables; "family table chain" for nft. */
  where: string;
}

export class Firewall {
  readonly mode: 'nftables' | 'none';
  private readonly nft: Nft;
  private readonly iptables: Iptables;
  private readonly sysctls: Sysctl;
  private applied: FirewallView | undefined;
  /** Elements of the applied view, and the plan of the next from them (only what changed). */
  private readonly elements = new ElementsBuilder();
  /** Bridges whose route_localnet is known to be 1. */
  private readonly localnet = new Set<IfName>();
  private foreign: ForeignRule[] = [];
  /** Is iptables the legacy backend? Asked once. */
  private legacy: boolean | undefined;
  /** Text of the last transaction, for the log and for tests. */
  lastScript = '';

  constructor(
    private readonly opts: FirewallOptions,
    private readonly runner: Runner = run,
    private readonly log: FirewallLogger = () => undefined,
  ) {
    this.mode = opts.mode;
    this.nft = new Nft(runner, opts.netns, 'nft', opts.onSpawn);
    this.iptables = new Iptables(runner, opts.netns, opts.onSpawn);
    this.sysctls = new Sysctl(runner, opts.netns);
  }

  /** The view the kernel holds (the last one applied), if any. */
  get current(): FirewallView | undefined {
    return this.applied;
  }

  /** Rules berth inserted into other firewalls' chains. */
  get foreignRules(): readonly ForeignRule[] {
    return this.foreign;
  }

  /** At start: rebuild the whole table for `view` (the user chain keeps its rules), set sysctls, live with other firewalls. */
  async reconcile(view: FirewallView): Promise<void> {
    for (const w of view.warnings) this.log('warn', w);
    await this.sysctl('net.ipv4.ip_forward', '1', true);
    if (this.mode === 'none') {
      const existing = await this.nft.objects().catch(() => undefined); // no nft installed: nothing to remove
      if (existing) {
        await this.apply(removalRuleset(existing));
        this.log('info', `firewall=none: removed berth's chains and sets from table ${FAMILY} ${TABLE} (chain user-forward kept)`);
      }
      await this.removeForeign();
      this.applied = view;
      this.elements.reset();
      return;
    }
    if (!(await this.sysctl('net.bridge.bridge-nf-call-iptables', '1', true))) {
      this.log('warn', 'bridged traffic does not pass the firewall (br_netfilter missing?): ICC off and links will not filter traffic inside a network');
    }
    this.localnet.clear();
    await this.routeLocalnet(view);
    const existing = (await this.nft.objects()) ?? { chains: [], sets: [], maps: [] };
    try {
      await this.apply(fullRuleset(view, { existing }));
    } catch (err) {
      // A table left by another version of berth (a set of another type, a chain at another priority):
      // re-create every object but the user chain, still in one transaction.
      this.log('warn', `rebuilding berth's table from scratch: ${(err as Error).message}`);
      await this.apply(fullRuleset(view, { existing, recreate: true }));
    }
    this.applied = view;
    this.elements.reset(view, elementsOf(view));
    this.nft.warm(); // the deltas that follow go through one long-lived nft
    this.log('info', `firewall: table ${FAMILY} ${TABLE} rebuilt`);
    try {
      await this.liveWithOthers();
    } catch (err) {
      // berth's own table is in place; say loudly that another firewall may still drop its traffic.
      this.log('error', `cannot adjust other firewalls that drop forwarded traffic: ${(err as Error).message}`);
    }
  }

  /**
   * Checks again for other firewalls that drop forwarded traffic (they may appear while berthd
   * runs) and adds or keeps berth's one accept rule there; idempotent, never throws.
   */
  async recheckOthers(quiet = false): Promise<void> {
    if (this.mode !== 'nftables' || !this.applied) return;
    try {
      await this.liveWithOthers(quiet);
    } catch (err) {
      this.log('error', `cannot adjust other firewalls that drop forwarded traffic: ${(err as Error).message}`);
    }
  }

  /**
   * `iptables -S FORWARD` when iptables is the legacy backend (its changes never show in nft
   * monitor, so the guard polls this); undefined when there is nothing to watch (nf_tables
   * backend, no iptables). Throws when it cannot be read this time (the next poll tries again).
   */
  async legacyForward(): Promise<string | undefined> {
    if (this.mode !== 'nftables') return undefined;
    if (this.legacy === undefined) {
      const backend = await this.iptables.backend();
      if (backend === undefined) return undefined;
      this.legacy = backend === 'legacy';
    }
    if (!this.legacy) return undefined;
    const lines = await this.iptables.listForward();
    if (!lines) throw new Internal('cannot read iptables FORWARD');
    return lines.join('\n');
  }

  /**
   * Compares the kernel's table with the one berth last applied; when it drifted (flushed,
   * deleted, a rule or element of berth's removed or added behind its back) rebuilds it in full
   * and logs what was found. Then checks other firewalls again. Returns what drifted ([] when
   * nothing). Never throws: the next check tries again.
   */
  async verify(why: string): Promise<string[]> {
    const planned = this.elements.applied;
    if (this.mode !== 'nftables' || !this.applied || !planned) return [];
    let drift: string[];
    try {
      drift = tableDrift(await this.nft.json(['list', 'table', FAMILY, TABLE]), planned);
    } catch (err) {
      this.log('error', `firewall: cannot read table ${FAMILY} ${TABLE} (${why}): ${(err as Error).message}`);
      return [];
    }
    if (drift.length > 0) {
      this.log('warn', `firewall: table ${FAMILY} ${TABLE} was changed behind berth's back (${why}): ${drift.join('; ')}; rebuilding it`);
      try {
        await this.reconcile(this.applied);
      } catch (err) {
        this.log('error', `firewall: rebuilding table ${FAMILY} ${TABLE} failed: ${(err as Error).message}`);
      }
      return drift;
    }
    this.log('debug', `firewall: table ${FAMILY} ${TABLE} as planned (${why})`);
    await this.recheckOthers(true);
    return [];
  }

  /**
   * After a change: apply the difference from the last applied view, as one transaction. On failure
   * nothing changed (the kernel still holds the previous view) and the error is thrown, so the
   * caller can undo its own change.
   */
  async sync(view: FirewallView): Promise<void> {
    if (this.mode === 'none') {
      this.applied = view;
      return;
    }
    if (!this.applied || !this.elements.applied) return this.reconcile(view);
    // Only the sandboxes whose published ports changed are planned again (nft-elements-builder.ts);
    // a full plan goes step by step with pauses: thousands of published ports must not stall the
    // event loop, which also answers DNS. Validates everything before anything is touched.
    const { delta } = await stepwise(this.elements.plan(view));
    await this.routeLocalnet(view);
    if (delta !== '') {
      try {
        await this.apply(delta);
      } catch (err) {
        // The table drifted from what berth last wrote (someone deleted an element): rewrite it whole.
        this.log('warn', `firewall delta failed, rewriting berth's table: ${(err as Error).message}`);
        const existing = (await this.nft.objects()) ?? { chains: [], sets: [], maps: [] };
        try {
          await this.apply(fullRuleset(view, { existing }));
        } catch {
          throw err;
        }
      }
    }
    this.applied = view;
    this.elements.commit();
  }

  /** What `berth rules` prints: the table as the kernel holds it, and rules berth put elsewhere. */
  async rules(): Promise<string> {
    if (this.mode === 'none') return '# berthd --firewall=none: berth installs no firewall rules\n';
    let text = (await this.nft.listTable()) ?? `# table ${FAMILY} ${TABLE} does not exist\n`;
    if (this.foreign.length > 0) {
      text += '\n# rules berth inserted into other firewalls (their forward policy drops):\n';
      for (const f of this.foreign) text += foreignRuleText(f.kind, f.where);
    }
    return text;
  }

  /** Removes berth's rules everywhere: its chains and sets, and what it inserted into other firewalls. */
  async cleanup(opts: { removeUserChain?: boolean } = {}): Promise<void> {
    await this.removeForeign();
    const existing = await this.nft.objects();
    if (existing) await this.apply(removalRuleset(existing, opts));
    this.applied = undefined;
    this.elements.reset();
    this.localnet.clear();
  }

  // ---- kernel pieces ----------------------------------------------------------------------------

  private async apply(script: string): Promise<void> {
    this.lastScript = script;
    await this.nft.apply(script);
  }

  /** sysctl -w KEY=VALUE (only when it differs, with onlyIfDifferent); false and a warning when it cannot. */
  private async sysctl(key: string, value: string, onlyIfDifferent = false): Promise<boolean> {
    if (onlyIfDifferent) {
      const cur = await this.sysctls.read(key);
      if ('error' in cur) {
        this.log('warn', `cannot read ${key}: ${cur.error}`);
        return false;
      }
      if (cur.value === value) return true;
    }
    const r = await this.sysctls.write(key, value);
    if (!r.ok) {
      this.log('warn', `cannot set ${key}=${value}: ${r.error}`);
      return false;
    }
    this.log('info', `set ${key}=${value}`);
    return true;
  }

  /** route_localnet=1 on every berth bridge (the host reaches published ports on 127.0.0.1). */
  private async routeLocalnet(view: FirewallView): Promise<void> {
    for (const b of view.bridges) {
      if (this.localnet.has(b.name)) continue;
      if (!IFNAME_RE.test(b.name)) throw new Internal(`invalid bridge name "${b.name}"`);
      if (await this.sysctl(`net/ipv4/conf/${b.name}/route_localnet`, '1')) this.localnet.add(b.name);
    }
    const names = new Set(view.bridges.map((b) => b.name));
    for (const n of [...this.localnet]) if (!names.has(n)) this.localnet.delete(n);
  }

  // ---- other firewalls --------------------------------------------------------------------------

  /**
   * Inserts (or removes, when no longer needed) berth's accept rule in chains that drop
   * forwarding. `quiet`: say nothing about chains where berth's rule is already in place (the
   * checks after nft monitor events); every insertion is always logged.
   */
  private async liveWithOthers(quiet = false): Promise<void> {
    this.foreign = [];
    // iptables (legacy or nft backend): policy DROP, or a last rule that drops everything.
    const lines = await this.iptables.listForward();
    if (lines) {
      const ours = iptablesOwnRules(lines);
      if (iptablesForwardDrops(lines)) {
        if (ours === 0) {
          const err = await this.iptables.insertForward(IPT_RULE);
          if (err !== undefined) throw new Internal(`cannot insert berth's rule into iptables FORWARD: ${err}`);
        }
        this.foreign.push({ kind: 'iptables', where: 'FORWARD' });
        if (ours === 0 || !quiet) {
          this.log(
            'warn',
            `iptables FORWARD drops forwarded traffic: inserted "-m mark --mark ${IPT_MARK} -j ACCEPT" (comment "${FOREIGN_COMMENT}") so berth's traffic gets through; removed when berthd cleans up`,
          );
        }
      } else if (ours > 0) {
        await this.removeIptables(ours);
      }
    }
    // nft tables of others with a forward chain whose policy is drop.
    const skipIptablesFilter = await this.iptables.isNftBackend();
    for (const c of await this.forwardChains()) {
      if (skipIptablesFilter && c.family === 'ip' && c.table === 'filter' && c.name === 'FORWARD') continue;
      const where = `${c.family} ${c.table} ${c.name}`;
      const handles = await this.nft.ruleHandles(c, FOREIGN_COMMENT);
      if (c.policy === 'drop') {
        if (handles.length === 0) await this.nft.apply(foreignInsertNft(c));
        this.foreign.push({ kind: 'nft', where });
        if (handles.length === 0 || !quiet) {
          this.log('warn', `nft chain ${where} drops forwarded traffic: inserted an accept rule for berth's mark (comment "${FOREIGN_COMMENT}")`);
          if ((c.prio ?? 0) <= FORWARD_PRIORITY) {
            this.log('warn', `nft chain ${where} runs before berth's forward chain (priority ${c.prio}): berth's traffic may still be dropped there`);
          }
        }
      } else if (handles.length > 0) {
        await this.nft.apply(foreignDeleteNft(c, handles));
      }
    }
  }

  private async forwardChains(): Promise<ForwardChain[]> {
    return (await this.nft.chains()).filter((c) => isForeignForwardChain(c, { family: FAMILY, table: TABLE }));
  }

  private async removeIptables(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      if (!(await this.iptables.deleteForward(IPT_RULE))) break;
    }
    this.log('info', `removed berth's rule from iptables FORWARD`);
  }

  private async removeForeign(): Promise<void> {
    const lines = await this.iptables.listForward();
    if (lines) {
      const ours = iptablesOwnRules(lines);
      if (ours > 0) await this.removeIptables(ours);
    }
    for (const c of await this.forwardChains()) {
      const handles = await this.nft.ruleHandles(c, FOREIGN_COMMENT);
      if (handles.length === 0) continue;
      await this.nft.apply(foreignDeleteNft(c, handles));
      this.log('info', `removed berth's rule from nft chain ${c.family} ${c.table} ${c.name}`);
    }
    this.foreign = [];
  }
}

/** Runs a step-wise planner, giving the event loop a turn between its steps. */
async function stepwise<T>(steps: Generator<void, T>): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** A view with nothing in it, for callers that need to clear every element (tests, cleanup paths). */
export const NOTHING: FirewallView = emptyView();
