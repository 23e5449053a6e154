// berthd's side of the DNS UDP workers (udp-worker.ts): forks them, gives each a copy of every
// bound UDP socket and the inputs of every view, restarts one that dies, and answers the queries
// they hand back (forwarding). berthd keeps reading the same sockets itself, so DNS is answered
// whether or not a worker is up; a worker only adds a reader.
//
// Consistency without the view's cost on every change: setView() first marks every live worker
// stale (a message of a few bytes; a stale worker hands every query to berthd, which has the
// current view) and resolves once they have confirmed, so that when a sandbox's start or removal
// returns no reader answers from an older view. The view's inputs follow later (scheduleViews), one
// at a time per worker, the latest only; the worker answers again once it has built the latest. A
// worker that does not confirm within ACK_MS is killed and restarted with the current view.
// Only what changed since the worker's last inputs is sent: the records of the sandboxes whose DNS
// inputs changed (berthd's DnsViewBuilder says which) and of service replicas, as JSON text
// compared with the text that worker has, and the rest of the state when it changed. With 1,000
// sandboxes the whole state was 1 MB and ~20 ms to serialize on berthd's thread at each send.
import { fork, type ChildProcess } from 'node:child_process';
import type dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import type { HostService } from '../model/host-service.js';
import type { BerthState } from '../model/types.js';
import type { DnsViewOptions } from '../plan/dns-view.js';
import { LABEL_SERVICE_ID, LABEL_SERVICE_NAME } from '../plan/service-view.js';
import type { AnswerCounts } from './answer.js';
import type { LogFn } from './upstreams.js';

/** What a view is built from: dnsView(state, hostServices, opts). */
export interface ViewInput {
  state: BerthState;
  hostServices: readonly HostService[];
  opts: DnsViewOptions;
  /**
   * Ids of the sandboxes whose DNS inputs may have changed since the last view (DnsViewBuilder's
   * lastChanged); absent: any may have. Service replicas are looked at whatever this says (the
   * view's services and Consul names read more of them than their DNS inputs).
   */
  changed?: readonly string[];
}

/**
 * The inputs of a view as a change of the worker's copy of the state: `rest` (the state without
 * its sandboxes, JSON) when it changed or the worker has none yet, sandbox records (JSON) that
 * differ from the worker's, ids of those it has that are gone.
 */
export interface ViewDelta {
  rest?: string;
  put: Array<[string, string]>;
  del: string[];
  hostServices: readonly HostService[];
  opts: DnsViewOptions;
}

export type ToWorker = { t: 'stale'; seq: number } | { t: 'view'; seq: number; delta: ViewDelta } | { t: 'listen'; ip: string } | { t: 'unlisten'; ip: string } | { t: 'counts' };

/** The inputs of one view as JSON text, made once per view and compared with each worker's copy. */
interface Snapshot {
  seq: number;
  rest: string;
  sandboxes: ReadonlyMap<string, string>;
}

type FromWorker =
  | { t: 'ready' }
  | { t: 'stale'; seq: number }
  | { t: 'view'; seq: number }
  | { t: 'counts'; counts: AnswerCounts }
  | { t: 'unlistened'; ip: string }
  | { t: 'log'; level: 'debug' | 'warn'; msg: string }
  | { t: 'forward'; ip: string; msg: Uint8Array; port: number; address: string };

/** A query a worker handed back: berthd answers it on its own copy of the socket. */
export type OnForward = (ip: string, msg: Buffer, port: number, address: string) => void;

const ACK_MS = 3000;
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 10_000;
/** A worker that lived this long resets the restart delay. */
const STABLE_MS = 30_000;

interface Slot {
  child: ChildProcess | undefined;
  started: number;
  delay: number;
  timer: NodeJS.Timeout | undefined;
  /** seq -> resolve, for the stale marks sent and not yet confirmed. */
  acks: Map<number, () => void>;
  /** The view being sent (its seq), if any; the latest is sent when it is built. */
  sending: number | undefined;
  /** Kills the worker if the view sent is not built within ACK_MS. */
  buildTimer: NodeJS.Timeout | undefined;
  /** ip -> callers waiting until this worker has closed its copy of that socket. */
  closing: Map<string, Array<() => void>>;
  /** Callers of counts() waiting for this worker's answer. */
  counting: Array<(c: AnswerCounts | undefined) => void>;
  /** The inputs this worker was sent last (undefined: none, e.g. just started). */
  has: Snapshot | undefined;
}

const ENTRY = fileURLToPath(new URL('./udp-worker.js', import.meta.url));

export class UdpWorkers {
  private readonly slots: Slot[];
  private readonly sockets = new Map<string, dgram.Socket>();
  private input: ViewInput | undefined;
  private seq = 0;
  private stopped = false;
  private viewTimer: NodeJS.Timeout | undefined;
  /** How long the last send of a view's inputs took (serializing them), in ms. */
  private serializeMs = 0;
  private snap: Snapshot | undefined;
  /** Sandboxes to write as text again at the next snapshot (undefined: every one). */
  private dirty: Set<string> | undefined;
  /** Service replicas (the labels the view's services and Consul names read): written at every snapshot. */
  private readonly replicas = new Set<string>();

  constructor(
    count: number,
    private readonly log: LogFn,
    private readonly onForward: OnForward,
  ) {
    this.slots = Array.from({ length: count }, () => ({ child: undefined, started: 0, delay: RESTART_MIN_MS, timer: undefined, acks: new Map(), sending: undefined, buildTimer: undefined, closing: new Map(), counting: [], has: undefined }));
  }

  start(): void {
    for (const s of this.slots) this.spawn(s);
  }

  /** PIDs of the live workers (for logs and tests). */
  get pids(): number[] {
    return this.slots.flatMap((s) => (s.child?.pid ? [s.child.pid] : []));
  }

  listen(ip: string, sock: dgram.Socket): void {
    this.sockets.set(ip, sock);
    for (const s of this.slots) this.post(s, { t: 'listen', ip }, sock);
  }

  /**
   * The workers close their copies of ip's socket; resolves when they have (or died, or were killed
   * after ACK_MS), so that berthd's own close frees the address for a later bind at once.
   */
  async unlisten(ip: string): Promise<void> {
    if (!this.sockets.delete(ip)) return;
    await Promise.all(
      this.slots.map((s) => {
        const child = s.child;
        if (!child?.connected) return undefined;
        return new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.log('warn', `dns: UDP worker ${child.pid} did not close its socket on ${ip} within ${ACK_MS} ms; killing it`);
            child.kill('SIGKILL');
          }, ACK_MS);
          const waiting = s.closing.get(ip) ?? [];
          waiting.push(() => {
            clearTimeout(timer);
            resolve();
          });
          s.closing.set(ip, waiting);
          this.post(s, { t: 'unlisten', ip });
        });
      }),
    );
  }

  /** Every live worker stops answering from its view, then gets this one (see the top of this file). */
  async setView(input: ViewInput): Promise<void> {
    this.input = input;
    if (!input.changed) this.dirty = undefined;
    else if (this.dirty) for (const id of input.changed) this.dirty.add(id);
    const seq = ++this.seq;
    await Promise.all(this.slots.map((s) => this.markStale(s, seq)));
    this.scheduleViews();
  }

  /**
   * Sends the latest inputs to the workers a little later, not on the request's path: after a
   * pause of 10 times what serializing the last one took (at least 20 ms), so that a burst of
   * changes costs one send and berthd spends at most ~10% of its time on them.
   */
  private scheduleViews(): void {
    if (this.viewTimer || this.stopped) return;
    this.viewTimer = setTimeout(() => {
      this.viewTimer = undefined;
      for (const s of this.slots) this.sendView(s);
    }, Math.max(20, 10 * this.serializeMs));
  }

  /** What each live worker has answered so far (its own counts; berthd's are DnsServer.stats). */
  async counts(): Promise<AnswerCounts[]> {
    const each = await Promise.all(
      this.slots.map((s) => (s.child?.connected ? new Promise<AnswerCounts | undefined>((r) => (s.counting.push(r), this.post(s, { t: 'counts' }))) : undefined)),
    );
    return each.filter((c): c is AnswerCounts => c !== undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.viewTimer) clearTimeout(this.viewTimer);
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.timer) clearTimeout(s.timer);
        const c = s.child;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        const gone = new Promise<void>((r) => c.once('exit', () => r()));
        c.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 2000).unref())]);
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }),
    );
  }

  private spawn(s: Slot): void {
    if (this.stopped) return;
    s.timer = undefined;
    // Its own execArgv (none): berthd's flags (--cpu-prof, --inspect) are not the worker's.
    const child = fork(ENTRY, [], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    s.child = child;
    s.has = undefined;
    s.started = Date.now();
    child.on('message', (m: FromWorker) => this.onMessage(s, child, m));
    child.on('error', (e) => this.log('warn', `dns: UDP worker: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (s.child !== child) return;
      s.child = undefined;
      for (const done of s.acks.values()) done();
      s.acks.clear();
      if (s.buildTimer) clearTimeout(s.buildTimer);
      s.sending = undefined;
      for (const r of s.counting.splice(0)) r(undefined);
      for (const waiting of s.closing.values()) for (const done of waiting) done();
      s.closing.clear();
      if (this.stopped) return;
      if (Date.now() - s.started > STABLE_MS) s.delay = RESTART_MIN_MS;
      this.log('warn', `dns: UDP worker ${child.pid} exited (${signal ?? `code ${code}`}); restarting it in ${s.delay} ms (berthd answers meanwhile)`);
      s.timer = setTimeout(() => this.spawn(s), s.delay);
      s.delay = Math.min(s.delay * 2, RESTART_MAX_MS);
    });
  }

  private onMessage(s: Slot, child: ChildProcess, m: FromWorker): void {
    if (s.child !== child) return;
    switch (m.t) {
      case 'ready':
        // The current view, then the sockets (until it has built the view it hands queries to berthd).
        this.sendView(s);
        for (const [ip, sock] of this.sockets) this.post(s, { t: 'listen', ip }, sock);
        this.log('debug', `dns: UDP worker ${child.pid} serving ${this.sockets.size} address(es)`);
        break;
      case 'stale':
        s.acks.get(m.seq)?.();
        s.acks.delete(m.seq);
        break;
      case 'view':
        if (s.buildTimer) clearTimeout(s.buildTimer);
        s.sending = undefined;
        if (m.seq < this.seq) this.scheduleViews();
        break;
      case 'unlistened':
        for (const done of s.closing.get(m.ip) ?? []) done();
        s.closing.delete(m.ip);
        break;
      case 'counts':
        s.counting.shift()?.(m.counts);
        break;
      case 'log':
        this.log(m.level, m.msg);
        break;
      case 'forward':
        if (this.sockets.has(m.ip)) this.onForward(m.ip, Buffer.from(m.msg), m.port, m.address);
        break;
    }
  }

  private markStale(s: Slot, seq: number): Promise<void> {
    const child = s.child;
    if (!child?.connected) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (!s.acks.delete(seq)) return;
        this.log('warn', `dns: UDP worker ${child.pid} did not confirm a new view within ${ACK_MS} ms; killing it (it restarts with the current view)`);
        child.kill('SIGKILL');
        resolve();
      }, ACK_MS);
      s.acks.set(seq, () => {
        clearTimeout(timer);
        resolve();
      });
      this.post(s, { t: 'stale', seq });
    });
  }

  /** The latest inputs to this worker, unless a view is on its way (its answer sends the latest). */
  private sendView(s: Slot): void {
    const child = s.child;
    if (!child?.connected || !this.input || s.sending !== undefined) return;
    s.sending = this.seq;
    s.buildTimer = setTimeout(() => {
      this.log('warn', `dns: UDP worker ${child.pid} did not build a view within ${ACK_MS} ms; killing it (it restarts with the current view)`);
      child.kill('SIGKILL');
    }, ACK_MS);
    const t0 = performance.now();
    const snap = this.snapshot(this.input);
    const had = s.has;
    const put: Array<[string, string]> = [];
    const del: string[] = [];
    for (const [id, text] of snap.sandboxes) if (had?.sandboxes.get(id) !== text) put.push([id, text]);
    if (had) for (const id of had.sandboxes.keys()) if (!snap.sandboxes.has(id)) del.push(id);
    const delta: ViewDelta = { put, del, hostServices: this.input.hostServices, opts: this.input.opts };
    if (had?.rest !== snap.rest) delta.rest = snap.rest;
    s.has = snap;
    this.post(s, { t: 'view', seq: this.seq, delta });
    this.serializeMs = performance.now() - t0;
  }

  /**
   * The current inputs as text (once per view, whatever the number of workers): the last
   * snapshot's texts, written again for the sandboxes changed since and the service replicas.
   */
  private snapshot(input: ViewInput): Snapshot {
    if (this.snap?.seq === this.seq) return this.snap;
    const { sandboxes, ...rest } = input.state;
    const write = (texts: Map<string, string>, id: string): void => {
      const sb = sandboxes[id];
      if (!sb) {
        texts.delete(id);
        this.replicas.delete(id);
        return;
      }
      texts.set(id, JSON.stringify(sb));
      const labels = sb.config.labels;
      if (labels?.[LABEL_SERVICE_ID] !== undefined || labels?.[LABEL_SERVICE_NAME] !== undefined) this.replicas.add(id);
    };
    let texts: Map<string, string>;
    if (!this.snap || !this.dirty) {
      texts = new Map();
      this.replicas.clear();
      for (const id in sandboxes) write(texts, id);
    } else {
      texts = new Map(this.snap.sandboxes);
      for (const id of this.dirty) write(texts, id);
      for (const id of [...this.replicas]) if (!this.dirty.has(id)) write(texts, id);
    }
    this.dirty = new Set();
    this.snap = { seq: this.seq, rest: JSON.stringify(rest), sandboxes: texts };
    return this.snap;
  }

  private post(s: Slot, m: ToWorker, handle?: dgram.Socket): void {
    const c = s.child;
    if (!c?.connected) return;
    try {
      c.send(m, handle, {}, (e) => e && this.log('debug', `dns: UDP worker ${c.pid}: ${e.message}`));
    } catch (e) {
      this.log('debug', `dns: UDP worker ${c.pid}: ${(e as Error).message}`);
    }
  }
}
