// Back-end slots: a fixed pool of empty back-ends (be_slot_0..N-1) declared in haproxy.cfg, so
// that a route added or removed is a runtime change (a map entry and dynamic servers) and not a
// reload. Each back-end (service, port) in use holds one slot for as long as it is in use; a slot
// is reused only after it was freed, and never in the step that frees it (its old servers are
// still being drained while the new route would already point there). Pure.
//
// The pool grows (by whole multiples of its configured size) only when every slot is taken: that
// is a structural change, a reload.
import { Internal } from '../model/errors.js';

export const DEFAULT_SLOTS = 32;

export interface SlotTable {
  /** Number of slot back-ends declared in the configuration. */
  pool: number;
  /** Back-end id -> slot index. */
  of: ReadonlyMap<string, number>;
}

export const EMPTY_SLOTS: SlotTable = { pool: 0, of: new Map() };

export function slotName(index: number): string {
  return `be_slot_${index}`;
}

/**
 * Slots for `ids` (in order), keeping every slot `prev` gave an id still in use; new ids take the
 * lowest slot free in both `prev` and the result. `size` is the configured pool size (at least 1).
 */
export function assignSlots(prev: SlotTable, ids: readonly string[], size = DEFAULT_SLOTS): SlotTable {
  if (!Number.isInteger(size) || size < 1) throw new Internal(`invalid back-end slot pool size ${size}`);
  const wanted = [...new Set(ids)];
  const of = new Map<string, number>();
  for (const id of wanted) {
    const s = prev.of.get(id);
    if (s !== undefined) of.set(id, s);
  }
  const taken = new Set([...of.values(), ...prev.of.values()]);
  let next = 0;
  for (const id of wanted) {
    if (of.has(id)) continue;
    while (taken.has(next)) next++;
    of.set(id, next);
    taken.add(next);
  }
  const highest = Math.max(-1, ...of.values());
  // Never shrink below what is declared (a shrink would be a reload for nothing).
  const pool = Math.max(prev.pool, size * Math.max(1, Math.ceil((highest + 1) / size)));
  return { pool, of };
}

/** Slot table as stored next to haproxy.cfg (slots.json), and back. */
export function slotsToJson(t: SlotTable): string {
  return `${JSON.stringify({ pool: t.pool, slots: Object.fromEntries([...t.of].sort((a, b) => a[1] - b[1])) }, null, 2)}\n`;
}

export function slotsFromJson(text: string): SlotTable {
  const v = JSON.parse(text) as { pool?: unknown; slots?: unknown };
  if (typeof v.pool !== 'number' || !Number.isInteger(v.pool) || v.pool < 0 || typeof v.slots !== 'object' || v.slots === null) throw new Internal('slots.json: not a slot table');
  const of = new Map<string, number>();
  for (const [id, n] of Object.entries(v.slots)) {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= v.pool) throw new Internal(`slots.json: bad slot for ${id}`);
    of.set(id, n);
  }
  return { pool: v.pool, of };
}
