// Has berth's table drifted from what berth wrote? Pure: compares `nft -j list table inet berth`
// (parsed items) with the planned chains, rules and sets, and says what differs in words a
// person can act on. What is compared: every chain of berth exists with its hook, priority
// and policy; its rules are berth's rules in berth's order (by their comments); the user chain
// exists; every set and map exists and holds as many elements as planned. Objects berth did
// not create (a user's own chains and sets) are not looked at.
import { CHAINS, type Elements, nftComment, SETS, USER_CHAIN } from './nft-ruleset.js';

type Item = Record<string, unknown>;

interface LiveChain {
  name: string;
  hook?: string;
  prio?: number;
  policy?: string;
  type?: string;
}

/** nft prints base chain priorities as numbers in JSON: these are the named ones berth uses. */
const PRIORITY: Record<string, number> = { filter: 0, raw: -300, dstnat: -100, srcnat: 100 };

function plannedPriority(text: string): number {
  const m = /^([a-z]+)(?:\s*([-+])\s*(\d+))?$/.exec(text.trim());
  if (m && PRIORITY[m[1]!] !== undefined) return PRIORITY[m[1]!]! + (m[2] === '-' ? -Number(m[3]) : m[2] === '+' ? Number(m[3]) : 0);
  return Number(text);
}

/** What differs between the live table (undefined: it does not exist) and the plan; [] when nothing. */
export function tableDrift(live: readonly Item[] | undefined, planned: Elements): string[] {
  if (!live) return ['table inet berth is missing'];
  const chains = new Map<string, LiveChain>();
  const rules = new Map<string, string[]>();
  const sets = new Map<string, { kind: string; count: number }>();
  for (const i of live) {
    const c = i['chain'] as LiveChain | undefined;
    if (c?.name) chains.set(c.name, c);
    const r = i['rule'] as { chain?: string; comment?: string } | undefined;
    if (r?.chain) rules.set(r.chain, [...(rules.get(r.chain) ?? []), r.comment ?? '']);
    for (const kind of ['set', 'map']) {
      const s = i[kind] as { name?: string; elem?: unknown[] } | undefined;
      if (s?.name) sets.set(s.name, { kind, count: Array.isArray(s.elem) ? s.elem.length : 0 });
    }
  }
  const out: string[] = [];
  if (!chains.has(USER_CHAIN)) out.push(`chain ${USER_CHAIN} is missing`);
  for (const c of CHAINS) {
    const l = chains.get(c.name);
    if (!l) {
      out.push(`chain ${c.name} is missing`);
      continue;
    }
    if (c.base) {
      const prio = plannedPriority(c.base.priority);
      if (l.hook !== c.base.hook || l.type !== c.base.type || l.prio !== prio || l.policy !== 'accept') {
        out.push(`chain ${c.name} is no longer "type ${c.base.type} hook ${c.base.hook} priority ${prio}; policy accept"`);
      }
    } else if (l.hook !== undefined) {
      out.push(`chain ${c.name} became a base chain`);
    }
    const want = c.rules.map((r) => nftComment(r.comment));
    const have = rules.get(c.name) ?? [];
    if (have.length !== want.length) out.push(`chain ${c.name} holds ${have.length} rules, berth wrote ${want.length}`);
    else if (have.some((h, k) => h !== want[k])) out.push(`rules of chain ${c.name} were replaced or reordered`);
  }
  for (const s of SETS) {
    const l = sets.get(s.name);
    const want = planned.get(s.name)?.size ?? 0;
    if (!l || l.kind !== s.kind) out.push(`${s.kind} ${s.name} is missing`);
    else if (l.count !== want) out.push(`${s.kind} ${s.name} holds ${l.count} elements, berth wrote ${want}`);
  }
  return out;
}
