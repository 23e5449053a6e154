// The catalog berthd serves: follows the state (a StateFollower), keeps the current view and its
// index table, and wakes blocking queries whose key changed. The decisions are the pure view and
// index table; this class only holds the latest of each and the waiting queries.
import type { BerthState } from '../model/types.js';
import { advance, emptyTable, indexOf, type IndexTable } from './index-table.js';
import { catalogView, fingerprintDelta, type CatalogView, type FingerprintMemo, type NodeInfo } from './view.js';

/** The key of reads that cover every instance (no fingerprint of its own: see indexOf). */
export const INSTANCES = 'instances';

interface Waiter {
  readonly done: () => void;
}

export class Catalog {
  private current: CatalogView;
  private idx: IndexTable;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly listeners: Array<(view: CatalogView) => void> = [];
  private readonly memo: FingerprintMemo = new Map();

  constructor(
    private readonly node: NodeInfo,
    start: number = Date.now(),
  ) {
    this.current = catalogView({ version: 1, networks: {}, sandboxes: {} }, node);
    this.idx = emptyTable(start);
  }

  get view(): CatalogView {
    return this.current;
  }

  get table(): IndexTable {
    return this.idx;
  }

  /**
   * The index a read covering `key` reports. "instances" (every instance, /v1/agent/services) is
   * the latest of the services' catalog keys.
   */
  indexOf(key: string): number {
    if (key !== INSTANCES) return indexOf(this.idx, key);
    let max = indexOf(this.idx, 'services');
    for (const [k, e] of this.idx.keys) if (k.startsWith('catalog:') && e.modify > max) max = e.modify;
    return max;
  }

  onChange(cb: (view: CatalogView) => void): void {
    this.listeners.push(cb);
  }

  /** StateFollower: a new view; the index moves only when what a key covers changed. Never throws. */
  async sync(state: BerthState): Promise<void> {
    this.apply(state);
  }

  apply(state: BerthState): string[] {
    const view = catalogView(state, this.node);
    const delta = fingerprintDelta(view, this.memo);
    const { table, changed } = advance(this.idx, delta.fps, delta.removed);
    this.current = view;
    if (changed.length === 0) return changed;
    this.idx = table;
    for (const cb of this.listeners) cb(view);
    const woken = changed.some((k) => k.startsWith('catalog:')) ? [...changed, INSTANCES] : changed;
    for (const key of woken) {
      const set = this.waiters.get(key);
      if (!set) continue;
      // What the query covers changed: news even to a client whose index is ahead of ours (one that
      // kept an index from before a restart with the clock set back), which would otherwise wait out its time.
      for (const w of [...set]) w.done();
    }
    return changed;
  }

  /**
   * Resolves when the index of `key` exceeds `after`, after `ms`, or when `cancel` fires (a client
   * that went away), whichever comes first. Resolves at once when the index is already higher.
   */
  wait(key: string, after: number, ms: number, cancel?: (stop: () => void) => void): Promise<void> {
    if (this.indexOf(key) > after) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const w: Waiter = {
        done: () => {
          clearTimeout(timer);
          set!.delete(w);
          if (set!.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
          resolve();
        },
      };
      const timer = setTimeout(w.done, ms);
      set.add(w);
      cancel?.(w.done);
    });
  }

  /** Blocking queries now waiting (for tests and logs). */
  waiting(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }
}
