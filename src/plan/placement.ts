// Where the replicas of services across hosts run: slot -> node, decided by the one host that
// holds the cluster's leader key (daemon/cluster-services.ts). Pure: no I/O.
//
// Spread as swarm does: a slot whose node is alive and allowed stays where it is (no churn);
// a slot without one goes to the allowed live node with the fewest replicas of this service,
// then the fewest replicas overall, then the lowest name (deterministic).
import { parseConstraint } from '../model/service-spec.js';

/** Slot (as text, 1..replicas) -> node name. */
export type Assignment = Record<string, string>;

export interface PlacedService {
  id: string;
  replicas: number;
  /** node.name==N / node.name!=N */
  constraints: readonly string[];
}

export function allowedOn(constraints: readonly string[], node: string): boolean {
  return constraints.every((c) => {
    const { op, node: want } = parseConstraint(c);
    return op === '==' ? node === want : node !== want;
  });
}

/**
 * The assignment of every service, from the current one and the live nodes. Services come back
 * in the input's order; a slot no live node may take stays unassigned (service ps says why).
 */
export function place(services: readonly PlacedService[], nodes: readonly string[], current: ReadonlyMap<string, Assignment>): Map<string, Assignment> {
  const live = [...new Set(nodes)].sort();
  const load = new Map<string, number>(live.map((n) => [n, 0]));
  const kept = new Map<string, Assignment>();
  // First what stays, so that the load counts it before anything new is placed.
  for (const s of services) {
    const keep: Assignment = {};
    for (const [slot, node] of Object.entries(current.get(s.id) ?? {})) {
      const n = Number(slot);
      if (!Number.isInteger(n) || n < 1 || n > s.replicas || !load.has(node) || !allowedOn(s.constraints, node)) continue;
      keep[slot] = node;
      load.set(node, load.get(node)! + 1);
    }
    kept.set(s.id, keep);
  }
  const out = new Map<string, Assignment>();
  for (const s of [...services].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const a = { ...kept.get(s.id)! };
    const mine = new Map<string, number>();
    for (const node of Object.values(a)) mine.set(node, (mine.get(node) ?? 0) + 1);
    const allowed = live.filter((n) => allowedOn(s.constraints, n));
    for (let slot = 1; slot <= s.replicas; slot++) {
      if (a[String(slot)] !== undefined || allowed.length === 0) continue;
      let best = allowed[0]!;
      for (const n of allowed) {
        const key = (x: string) => [mine.get(x) ?? 0, load.get(x)!];
        const [m1, l1] = key(n);
        const [m2, l2] = key(best);
        if (m1! < m2! || (m1 === m2 && l1! < l2!)) best = n;
      }
      a[String(slot)] = best;
      mine.set(best, (mine.get(best) ?? 0) + 1);
      load.set(best, load.get(best)! + 1);
    }
    out.set(s.id, a);
  }
  return new Map(services.map((s) => [s.id, out.get(s.id)!]));
}

/** Whether two assignments name the same node for every slot. */
export function sameAssignment(a: Assignment | undefined, b: Assignment | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a![k] === b![k]);
}
