// What the runtime API must do to bring HAProxy's servers to the wanted set. Pure.
// Servers are matched by (back-end, name): a replica keeps its name (its sandbox's), so a new
// address for the same name is a re-address, not a remove and add.
import type { RenderBackend, RenderServer } from './config.js';

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

/** True when the two inputs differ in more than their servers (a reload is needed). */
export function structureKey(backends: readonly RenderBackend[], rest: unknown): string {
  return JSON.stringify({ backends: backends.map((b) => [b.id, b.service, b.port]), rest });
}
