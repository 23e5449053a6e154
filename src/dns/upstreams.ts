// berthd's upstream resolvers: the host's resolv.conf (berthd --resolv-conf PATH, default
// /etc/resolv.conf), or systemd-resolved's /run/systemd/resolve/resolv.conf when the file lists
// only the 127.0.0.53 stub (as Docker). Re-read when it changes: a directory watch (resolv.conf is
// usually replaced by a rename) and a slow poll as a safety net.
//
// berthd runs in the host's namespace, so loopback resolvers in the file are kept for forwarding
// (they are reachable from berthd); sandboxes without embedded DNS get the filtered copy
// (plan/sandbox-files.ts).
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parseResolvConf, onlyResolvedStub, RESOLVED_CONF } from '../model/resolv-conf.js';
import type { Upstream } from './forwarder.js';

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;

export interface HostResolversOptions {
  /** The resolv.conf to follow (berthd --resolv-conf). */
  path: string;
  /** systemd-resolved's full list, used when `path` names only 127.0.0.53. */
  resolvedPath?: string;
  /** Port of the upstreams (53; tests use another). */
  port?: number;
  /** Safety-net poll interval in ms (default 2000). */
  pollMs?: number;
  log?: LogFn;
}

export interface HostResolverSnapshot {
  /** The file actually used. */
  source: string;
  /** Its text (what sandboxes without embedded DNS are derived from: HostFacts.resolvConf). */
  text: string;
  servers: readonly Upstream[];
}

export class HostResolvers {
  private snap: HostResolverSnapshot;
  private watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private listeners: Array<(s: HostResolverSnapshot) => void> = [];
  private reading: Promise<void> | undefined;
  private lastReadError = '';
  private readonly opts: Required<Omit<HostResolversOptions, 'log'>> & { log: LogFn };

  constructor(opts: HostResolversOptions) {
    this.opts = {
      resolvedPath: RESOLVED_CONF,
      port: 53,
      pollMs: 2000,
      log: () => {},
      ...opts,
    };
    this.snap = { source: opts.path, text: '', servers: [] };
  }

  /** Read the file now and start following it. */
  async start(): Promise<void> {
    await this.reload();
    for (const dir of new Set([dirname(this.opts.path), dirname(this.opts.resolvedPath)])) {
      try {
        const w = watch(dir, { persistent: false }, (_event, file) => {
          const f = file?.toString();
          if (!f || f === basename(this.opts.path) || f === basename(this.opts.resolvedPath)) this.schedule();
        });
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        // no such directory (e.g. no systemd): the poll covers it
      }
    }
    // reload() shares a read in progress, so polls never overlap; a failure is logged, not thrown.
    this.poll = setInterval(() => void this.reload().catch((e: Error) => this.opts.log('error', `dns: reading ${this.opts.path}: ${e.message}`)), this.opts.pollMs);
    this.poll.unref();
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
    this.poll = this.debounce = undefined;
  }

  /** The current upstreams (a snapshot; cheap to call per query). */
  servers(): readonly Upstream[] {
    return this.snap.servers;
  }

  current(): HostResolverSnapshot {
    return this.snap;
  }

  /** Called with each new snapshot whose text differs from the last. */
  onChange(fn: (s: HostResolverSnapshot) => void): void {
    this.listeners.push(fn);
  }

  private schedule(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload().catch((e: Error) => this.opts.log('error', `dns: reading ${this.opts.path}: ${e.message}`)), 50);
    this.debounce.unref();
  }

  /** Re-read the files; keeps the last good snapshot when the file cannot be read. */
  reload(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<void> {
    let source = this.opts.path;
    let text: string;
    try {
      text = await readFile(source, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      if (code !== this.lastReadError) {
        this.opts.log('warn', `dns: cannot read ${source} (${code}); keeping the previous upstream resolvers`);
      }
      this.lastReadError = code;
      return;
    }
    this.lastReadError = '';
    if (onlyResolvedStub(text)) {
      try {
        text = await readFile(this.opts.resolvedPath, 'utf8');
        source = this.opts.resolvedPath;
      } catch {
        // keep the stub: berthd can reach 127.0.0.53 from the host's namespace
      }
    }
    if (text === this.snap.text && source === this.snap.source) return;
    const servers = parseResolvConf(text).nameservers.map((host) => ({ host, port: this.opts.port }));
    this.snap = { source, text, servers: Object.freeze(servers) };
    this.opts.log(
      servers.length ? 'info' : 'warn',
      servers.length
        ? `dns: upstream resolvers from ${source}: ${servers.map((s) => s.host).join(', ')}`
        : `dns: ${source} lists no nameserver; external names will get SERVFAIL`,
    );
    for (const fn of this.listeners) {
      try {
        fn(this.snap);
      } catch (e) {
        this.opts.log('error', `dns: resolv.conf listener failed: ${(e as Error).message}`);
      }
    }
  }
}
