// Consul's X-Consul-Index for berth's catalog: one counter, and for every key (a query's coverage,
// see view.ts fingerprints) the index at which its content last changed. A new view moves the
// counter once, and only the keys whose text differs take the new value, so a blocking query on
// one service does not wake for another. Keys that disappear keep a tombstone (their last index)
// so a query on a removed service sees one change and then blocks again. Pure, no I/O; for speed
// with thousands of keys, advance updates the key map in place: keep only the newest table.

export interface KeyIndex {
  /** '' once the key has disappeared. */
  readonly fp: string;
  readonly create: number;
  readonly modify: number;
}

export interface IndexTable {
  readonly index: number;
  readonly keys: ReadonlyMap<string, KeyIndex>;
}

/**
 * The table before any view. `start` seeds the counter: berthd passes the clock in milliseconds,
 * so that after a restart the index does not go backwards for clients that kept an older one.
 */
export function emptyTable(start = 1): IndexTable {
  return { index: Math.max(1, Math.floor(start)), keys: new Map() };
}

/**
 * The table after a view, and the keys that changed. `fps` holds every key of the view, and a key
 * it lacks is gone; or, with `removed` (a delta), only the keys that may have changed, and the
 * keys that are gone are exactly `removed`.
 */
export function advance(prev: IndexTable, fps: ReadonlyMap<string, string>, removed?: readonly string[]): { table: IndexTable; changed: string[] } {
  const changed: string[] = [];
  for (const [k, fp] of fps) if (prev.keys.get(k)?.fp !== fp) changed.push(k);
  if (removed) {
    for (const k of removed) if (!fps.has(k) && (prev.keys.get(k)?.fp ?? '') !== '') changed.push(k);
  } else {
    for (const [k, e] of prev.keys) if (e.fp !== '' && !fps.has(k)) changed.push(k);
  }
  if (changed.length === 0) return { table: prev, changed };
  const index = prev.index + 1;
  // In place: copying thousands of keys on every change would cost more than the change.
  const keys = prev.keys as Map<string, KeyIndex>;
  for (const k of changed) {
    const fp = fps.get(k) ?? '';
    const old = prev.keys.get(k);
    keys.set(k, { fp, create: old && old.fp !== '' && fp !== '' ? old.create : index, modify: index });
  }
  return { table: { index, keys }, changed };
}

/** The index a read of `key` reports: its last change, or 1 when it never existed (never 0). */
export function indexOf(table: IndexTable, key: string): number {
  return table.keys.get(key)?.modify ?? 1;
}

/** Create and modify index of an entry (for CreateIndex/ModifyIndex fields). */
export function entryIndex(table: IndexTable, key: string): { create: number; modify: number } {
  const e = table.keys.get(key);
  return e ? { create: e.create, modify: e.modify } : { create: 1, modify: 1 };
}
