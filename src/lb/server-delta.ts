// What the runtime API must do to bring HAProxy's servers to the wanted set. Pure.
// Servers are matched by (back-end, name): a replica keeps its name (its sandbox's), so a new
// address for the same name is a re-address, not a remove and add.
import type { RenderBackend, RenderInput, RenderServer } from './config.js';
import { slotName, type SlotTable } from './slots.js';

export type ServerOp =
  | { op: 'add'; backend: string; server: RenderServer }
  | { op: 'addr'; backend: string; server: RenderServer }
  | { op: 'remove'; backend: string; name: string };

/** Server sets per back-end id. */
export type ServerSets = ReadonlyMap<string, readonly RenderServer[]>;

export function serverSets(backends: readonly RenderBackend[]): Map<string, RenderServer[]> {
  return new Map(backends.map((b) => [b.id, [...b.servers]]));
}

/**
 * The operations from `have` to `want`, for back-ends present in both (a back-end that appears or
 * disappears is a structural change: a reload). Adds first, removals last: capacity arrives
 * before it leaves.
 */
export function serverDelta(have: ServerSets, want: ServerSets): ServerOp[] {
  const adds: ServerOp[] = [];
  const removes: ServerOp[] = [];
  for (const [backend, wanted] of want) {
    const current = have.get(backend);
    if (!current) continue;
    const byName = new Map(current.map((s) => [s.name, s]));
    for (const s of wanted) {
      const h = byName.get(s.name);
      if (!h) adds.push({ op: 'add', backend, server: s });
      else if (h.ip !== s.ip || h.port !== s.port) adds.push({ op: 'addr', backend, server: s });
    }
    const names = new Set(wanted.map((s) => s.name));
    for (const s of current) if (!names.has(s.name)) removes.push({ op: 'remove', backend, name: s.name });
  }
  return [...adds, ...removes];
}

/** Server sets per slot back-end, every slot of the pool (a free slot has none). */
export function slotSets(input: RenderInput, table: SlotTable): Map<string, RenderServer[]> {
  const sets = new Map<string, RenderServer[]>();
  for (let n = 0; n < table.pool; n++) sets.set(slotName(n), []);
  for (const b of input.backends) {
    const n = table.of.get(b.id);
    if (n !== undefined) sets.set(slotName(n), [...b.servers]);
  }
  return sets;
}

export type MapOp =
  | { op: 'add' | 'set'; host: string; backend: string }
  | { op: 'del'; host: string };

/** hosts.map entries to add, re-point and delete (in that order) to go from `have` to `want`. */
export function mapDelta(have: ReadonlyMap<string, string>, want: ReadonlyMap<string, string>): MapOp[] {
  const ops: MapOp[] = [];
  for (const [host, backend] of want) {
    const h = have.get(host);
    if (h === undefined) ops.push({ op: 'add', host, backend });
    else if (h !== backend) ops.push({ op: 'set', host, backend });
  }
  for (const host of have.keys()) if (!want.has(host)) ops.push({ op: 'del', host });
  return ops;
}

/**
 * What only a reload can change: the port, the check, the stats page, the default back-end's
 * slot and the size of the slot pool. Routes and servers are runtime changes.
 */
export function structureKey(input: RenderInput, table: SlotTable): string {
  const { port, check, stats, runDir, lb, defaultBackend } = input;
  return JSON.stringify({ lb, port, check, stats, runDir, fallback: defaultBackend ? table.of.get(defaultBackend) : null, pool: table.pool });
}
