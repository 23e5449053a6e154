// Keeps berth's firewall in place while berthd runs. A long-lived `nft monitor` (kernel/
// nft-monitor.ts) reports every committed nftables transaction with the process that made it;
// transactions of berth's own nft and iptables processes are ignored, any other one (a user's
// `nft flush ruleset`, a firewall manager reloading, `iptables -P FORWARD DROP`, Docker or ufw
// adding a forward chain that drops) leads, after a short debounce, to one check under the
// daemon's lock: berth's table is compared with the planned one and rebuilt if it drifted, and
// other firewalls that drop forwarding get berth's accept rule (daemon/firewall.ts, verify()).
// The check also runs when the monitor (re)starts and every `intervalMs` as a safety net. Legacy
// iptables changes do not show in nft monitor: with the legacy backend `iptables -S FORWARD` is
// read every second (`poll`) and a change leads to the same check. A program that keeps undoing berth's table does
// not make berthd spin: rebuilds that follow each other closely are spaced out, up to 30 s.
import { NftMonitor, type NftTransaction } from '../kernel/nft-monitor.js';
import type { LogLevel } from './config.js';

export interface FirewallGuardOptions {
  /** Runs the check (under the daemon's lock); resolves to what drifted ([] when nothing). */
  check: (why: string) => Promise<string[]>;
  log: (level: LogLevel, msg: string) => void;
  netns?: string;
  /** Quiet time after the last foreign change before checking. Default 100 ms. */
  debounceMs?: number;
  /** Longest wait after the first foreign change of a burst. Default 400 ms. */
  maxWaitMs?: number;
  /** Safety-net check interval. Default 5 min. */
  intervalMs?: number;
  /** Run no monitor (tests drive onTransaction themselves). */
  noMonitor?: boolean;
  /**
   * Changes nft monitor cannot see (legacy iptables): read() returns a snapshot, undefined when
   * there is nothing to watch (then polling stops), or throws (try again next time); the first
   * snapshot and every one that differs from the last lead to a check. Default every second.
   */
  poll?: { read: () => Promise<string | undefined>; everyMs?: number; what: string };
}

/** PIDs of processes berth started recently; their ruleset changes are berth's own. */
export class OwnProcesses {
  private readonly pids = new Map<number, number>();
  constructor(private readonly keepMs = 60_000) {}

  add = (pid: number): void => {
    const now = Date.now();
    this.pids.set(pid, now + this.keepMs);
    if (this.pids.size > 256) for (const [p, until] of this.pids) if (until < now) this.pids.delete(p);
  };

  has(pid: number): boolean {
    const until = this.pids.get(pid);
    return until !== undefined && until >= Date.now();
  }
}

export class FirewallGuard {
  readonly own = new OwnProcesses();
  private readonly monitor: NftMonitor | undefined;
  private timer: NodeJS.Timeout | undefined;
  private interval: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private firstAt = 0;
  private why: string[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private lastRebuildAt = 0;
  private spacing = 0;
  private stopped = true;

  constructor(private readonly opts: FirewallGuardOptions) {
    if (!opts.noMonitor) {
      this.monitor = new NftMonitor({
        ...(opts.netns ? { netns: opts.netns } : {}),
        onTransaction: (t) => this.onTransaction(t),
        onStart: () => this.schedule('the nft monitor started'),
        log: opts.log,
      });
    }
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.monitor?.start();
    this.interval = setInterval(() => this.schedule('periodic check'), this.opts.intervalMs ?? 300_000);
    this.interval.unref();
    if (this.opts.poll) this.startPolling(this.opts.poll);
  }

  private startPolling(poll: NonNullable<FirewallGuardOptions['poll']>): void {
    let last: string | undefined;
    let busy = false;
    const timer = setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      void poll
        .read()
        .then((snap) => {
          if (snap === undefined) {
            clearInterval(timer); // nothing to watch here
            return;
          }
          // The first snapshot is checked too: a change between berthd's start and it is not missed.
          if (snap !== last) this.schedule(last === undefined ? `first look at ${poll.what}` : `${poll.what} changed`);
          last = snap;
        })
        .catch(() => undefined)
        .finally(() => (busy = false));
    }, poll.everyMs ?? 1000);
    timer.unref();
    this.pollTimer = timer;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.monitor?.stop();
    if (this.timer) clearTimeout(this.timer);
    if (this.interval) clearInterval(this.interval);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.timer = undefined;
    await this.running;
  }

  /** One transaction from nft monitor. */
  onTransaction(t: NftTransaction): void {
    if (t.pid !== undefined && this.own.has(t.pid)) return;
    const first = t.lines[0] ?? '(no objects)';
    const by = t.pid !== undefined ? ` by process ${t.pid} (${t.comm ?? '?'})` : '';
    this.schedule(`"${first.slice(0, 120)}"${t.lines.length > 1 ? ` and ${t.lines.length - 1} more` : ''}${by}`);
  }

  /** Resolves once no check is pending or running (tests). */
  async idle(): Promise<void> {
    while (this.timer || this.running) {
      await (this.running ?? new Promise((r) => setTimeout(r, 10)));
    }
  }

  private schedule(why: string): void {
    if (this.stopped) return;
    if (this.why.length < 5) this.why.push(why);
    const now = Date.now();
    if (!this.timer) this.firstAt = now;
    const debounce = this.opts.debounceMs ?? 100;
    const latest = this.firstAt + (this.opts.maxWaitMs ?? 400);
    const wait = Math.max(Math.min(now + debounce, latest) - now, this.lastRebuildAt + this.spacing - now, 0);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, wait);
  }

  private fire(): void {
    if (this.running) {
      this.again = true; // a change during the check: check once more afterwards
      return;
    }
    const why = this.why.join(', ');
    this.why = [];
    this.running = (async () => {
      try {
        const drift = await this.opts.check(why);
        if (drift.length > 0) this.rebuilt();
      } catch (err) {
        this.opts.log('error', `firewall check failed: ${(err as Error).message}`);
      } finally {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule('changes during the last check');
        }
      }
    })();
  }

  /** Rebuilds in quick succession: something keeps undoing berth's table; wait longer each time. */
  private rebuilt(): void {
    const now = Date.now();
    if (now - this.lastRebuildAt < 10_000) {
      this.spacing = Math.min(Math.max(this.spacing * 2, 1000), 30_000);
      this.opts.log('error', `firewall: berth's table keeps being changed by another program; next rebuild in ${this.spacing} ms at the earliest`);
    } else {
      this.spacing = 0;
    }
    this.lastRebuildAt = now;
  }
}
