// The firewall's elements for successive views, at a cost proportional to what changed. Pure.
//
// elementSteps + deltaSteps (nft-ruleset.ts) plan every element of every view and compare every
// element with the applied ones: with 1,000 sandboxes publishing a port, a change of one looks
// at 6,000 elements. The builder keeps the elements of the applied view and each sandbox's
// published ports with their group of elements; a new view whose only difference is in some
// sandboxes' published ports costs one comparison per sandbox (a few fields, no allocation) and
// the elements of the sandboxes that changed. Nothing kept changes before commit(): a change the
// kernel refuses leaves the builder as it was.
//
// Exactly what the full planner makes, or the full planner itself: whenever an element of a
// changed sandbox is also another owner's (two owners of one key have their comments merged in
// view order), or anything but published ports changed (networks, links, services, host
// services), or a comment needs sanitizing, the plan falls back to elementSteps + deltaSteps.
// test/unit/nft-elements-builder.test.ts compares every plan with the full planner.
import type { FirewallView, FwPublished } from './firewall-view.js';
import { deltaSteps, elementLines, elementSteps, elementText, type Element, type Elements, publishedGroup, SETS } from './nft-ruleset.js';

/** One sandbox's published ports as last planned, and their elements (set -> elements, one per key). */
interface Kept {
  pubs: readonly FwPublished[];
  group: ReadonlyArray<readonly [string, readonly Element[]]>;
}

/** What a plan leads to: the nft text from the applied elements to the view's, and how it was planned. */
export interface ElementsPlan {
  delta: string;
  /** true when planned in full (elementSteps + deltaSteps). */
  full: boolean;
}

interface State {
  els: Elements;
  /** Everything of the view but its published ports, as text: any difference there plans in full. */
  rest: string;
  bySandbox: Map<string, Kept>;
  /** `set\nkey` -> how many owners contribute to it (sandboxes' groups, and the rest of the view as one). */
  owners: Map<string, number>;
}

const restOf = (v: FirewallView): string => JSON.stringify([v.bridges, v.links, v.hostServices, v.vips ?? [], v.servicePorts ?? []]);

function samePubs(a: readonly FwPublished[], b: readonly FwPublished[], from: number, to: number): boolean {
  if (a.length !== to - from) return false;
  for (let i = 0; i < a.length; i++) {
    const p = a[i]!;
    const q = b[from + i]!;
    if (p !== q && (p.hostIp !== q.hostIp || p.hostPort !== q.hostPort || p.proto !== q.proto || p.targetIp !== q.targetIp || p.targetPort !== q.targetPort || p.sandbox !== q.sandbox)) return false;
  }
  return true;
}

export class ElementsBuilder {
  private state: State | undefined;
  /** The last plan, applied to the kept state by commit(). */
  private pending: (() => void) | undefined;

  /** The elements of the last committed view (undefined before the first). */
  get applied(): Elements | undefined {
    return this.state?.els;
  }

  /** Forget everything: the next plan is made in full against `els` (undefined: against nothing). */
  reset(view?: FirewallView, els?: Elements): void {
    this.pending = undefined;
    this.state = view && els ? stateOf(view, els) : undefined;
  }

  /**
   * The elements of `view` and the delta from the committed ones, step-wise (pauses as
   * elementSteps'). Nothing is kept until commit(); a plan not committed is forgotten by the next.
   */
  *plan(view: FirewallView): Generator<void, ElementsPlan> {
    const cur = this.state;
    if (!cur) throw new Error('ElementsBuilder.plan before reset');
    const quick = cur.rest === restOf(view) ? incremental(cur, view) : undefined;
    if (quick) {
      this.pending = quick.commit;
      return { delta: quick.delta, full: false };
    }
    const els = yield* elementSteps(view);
    const delta = yield* deltaSteps(cur.els, els);
    this.pending = () => (this.state = stateOf(view, els));
    return { delta, full: true };
  }

  /** The last plan's view is now the applied one (and its elements `applied`). */
  commit(): void {
    if (!this.pending) throw new Error('ElementsBuilder.commit without a plan');
    this.pending();
    this.pending = undefined;
  }
}

/**
 * Groups of consecutive published ports of one sandbox, as elementSteps groups them, or undefined
 * when the sandboxes are not in name order (firewallView's order; a name could then come twice).
 */
function runs(pubs: readonly FwPublished[]): Array<[string, number, number]> | undefined {
  const out: Array<[string, number, number]> = [];
  let prev: string | undefined;
  for (let i = 0; i < pubs.length; ) {
    const name = pubs[i]!.sandbox;
    if (prev !== undefined && !(prev < name)) return undefined;
    prev = name;
    let j = i + 1;
    while (j < pubs.length && pubs[j]!.sandbox === name) j++;
    out.push([name, i, j]);
    i = j;
  }
  return out;
}

function stateOf(view: FirewallView, els: Elements): State {
  const owners = new Map<string, number>();
  const own = (set: string, key: string) => owners.set(`${set}\n${key}`, (owners.get(`${set}\n${key}`) ?? 0) + 1);
  const bySandbox = new Map<string, Kept>();
  const groups = runs(view.published);
  for (const [name, i, j] of groups ?? []) {
    const pubs = view.published.slice(i, j);
    const group = publishedGroup(pubs);
    if (!group) continue; // its comments need sanitizing: any change of this view plans in full
    bySandbox.set(name, { pubs, group });
    for (const [set, list] of group) for (const e of list) own(set, e.key);
  }
  // The rest of the view counts as one more owner of each of its keys.
  const rest = elementSteps({ ...view, published: [] });
  for (;;) {
    const r = rest.next();
    if (!r.done) continue;
    for (const [set, m] of r.value) for (const key of m.keys()) own(set, key);
    break;
  }
  // A view the builder cannot follow sandbox by sandbox: an impossible rest key makes every plan full.
  const whole = groups !== undefined && bySandbox.size === groups.length;
  return { els, rest: whole ? restOf(view) : '\0', bySandbox, owners };
}

/** The plan when only sandboxes' published ports changed and no element they touch is shared; else undefined. */
function incremental(cur: State, view: FirewallView): { delta: string; commit: () => void } | undefined {
  const gone: Array<[string, Kept]> = [];
  const come: Array<[string, Kept]> = [];
  const pubs = view.published;
  let kept = 0;
  let prev: string | undefined;
  for (let i = 0; i < pubs.length; ) {
    const name = pubs[i]!.sandbox;
    if (prev !== undefined && !(prev < name)) return undefined; // not in name order: see runs()
    prev = name;
    let j = i + 1;
    while (j < pubs.length && pubs[j]!.sandbox === name) j++;
    const had = cur.bySandbox.get(name);
    if (had) kept++;
    if (!had || !samePubs(had.pubs, pubs, i, j)) {
      const mine = pubs.slice(i, j);
      const group = publishedGroup(mine);
      if (!group) return undefined;
      if (had) gone.push([name, had]);
      come.push([name, { pubs: mine, group }]);
    }
    i = j;
  }
  if (kept !== cur.bySandbox.size) {
    const present = new Set<string>();
    for (const p of pubs) present.add(p.sandbox);
    for (const [name, had] of cur.bySandbox) if (!present.has(name)) gone.push([name, had]);
  }
  if (gone.length === 0 && come.length === 0) return { delta: '', commit: () => undefined };

  // Owner counts after the change; every key touched must have had one owner at most and keep one at most.
  const owners = new Map<string, number>();
  const count = (k: string) => owners.get(k) ?? cur.owners.get(k) ?? 0;
  for (const [, g] of gone) {
    for (const [set, list] of g.group) {
      for (const e of list) {
        const k = `${set}\n${e.key}`;
        if ((cur.owners.get(k) ?? 0) !== 1) return undefined;
        owners.set(k, count(k) - 1);
      }
    }
  }
  // The elements after the change, of the keys touched: undefined where a key goes.
  const after = new Map<string, Map<string, Element | undefined>>();
  const touch = (set: string): Map<string, Element | undefined> => {
    let m = after.get(set);
    if (!m) after.set(set, (m = new Map()));
    return m;
  };
  for (const [, g] of gone) for (const [set, list] of g.group) for (const e of list) touch(set).set(e.key, undefined);
  for (const [, g] of come) {
    for (const [set, list] of g.group) {
      for (const e of list) {
        const k = `${set}\n${e.key}`;
        if (count(k) !== 0) return undefined;
        owners.set(k, 1);
        touch(set).set(e.key, e);
      }
    }
  }

  // The delta over the touched keys only, as deltaSteps would write it.
  const dels: string[] = [];
  const adds: string[] = [];
  for (const s of SETS) {
    const keys = after.get(s.name);
    if (!keys) continue;
    const before = cur.els.get(s.name)!;
    const del: string[] = [];
    const add: string[] = [];
    for (const [k, now] of keys) {
      const was = before.get(k);
      if (was === now) continue;
      const differ = !was || !now || was.value !== now.value || was.comment !== now.comment;
      if (was && differ) del.push(k);
      if (now && differ) add.push(elementText(now));
    }
    dels.push(...elementLines('delete', s.name, del));
    adds.push(...elementLines('add', s.name, add));
  }
  const lines = [...dels, ...adds];

  // Applied to what is kept only once the kernel took the change.
  const commit = (): void => {
    for (const [name] of gone) cur.bySandbox.delete(name);
    for (const [name, g] of come) cur.bySandbox.set(name, g);
    for (const [k, n] of owners) {
      if (n === 0) cur.owners.delete(k);
      else cur.owners.set(k, n);
    }
    for (const [set, keys] of after) {
      const m = cur.els.get(set)!;
      for (const [k, e] of keys) {
        if (e) m.set(k, e);
        else m.delete(k);
      }
    }
  };
  return { delta: lines.length ? lines.join('\n') + '\n' : '', commit };
}
