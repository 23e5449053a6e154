// A tracer for berth's planned filter chains: it follows one forwarded packet through the rule
// text of CHAINS and the elements of a view, the way nft would, and returns the verdict and the
// rules it matched. It understands exactly the expressions berth's filter chains use, and throws
// on anything else (so a new kind of rule cannot be silently misread). Test-only.
import { CHAINS, elementsOf, USER_CHAIN, type Elements } from '../../src/plan/nft-ruleset.js';
import type { FirewallView } from '../../src/plan/firewall-view.js';

export interface Packet {
  iif: string;
  oif: string;
  saddr: string;
  daddr: string;
  proto: 'tcp' | 'udp' | 'icmp';
  dport?: number;
  /** Connection tracking state of the packet. */
  ct: 'new' | 'established';
  /** The connection's destination was rewritten by DNAT (a published port). */
  dnat?: boolean;
  mark?: number;
  /** Source MAC of a bridged packet (default: a sandbox's, 02:42:...). */
  smac?: string;
}

export type Verdict = 'accept' | 'drop';
type Flow = Verdict | 'return' | 'continue';

export interface Trace {
  verdict: Verdict;
  matched: string[];
}

/** Rules users put in user-forward, as a function of the packet. */
export type UserRules = (p: Packet) => Verdict | undefined;

const FIELDS: Record<string, (p: Packet) => string> = {
  iifname: (p) => `"${p.iif}"`,
  oifname: (p) => `"${p.oif}"`,
  'ip saddr': (p) => p.saddr,
  'ip daddr': (p) => p.daddr,
  'meta l4proto': (p) => p.proto,
  'th dport': (p) => String(p.dport ?? 0),
};

function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  const n = (a: string): number => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  return Math.floor(n(ip) / size) === Math.floor(n(base!) / size);
}

export function traceForward(view: FirewallView, p: Packet, user: UserRules = () => undefined): Trace {
  const els = elementsOf(view);
  const pkt: Packet = { ...p, mark: p.mark ?? 0 };
  const matched: string[] = [];
  const flow = runChain('filter-forward', els, pkt, user, matched);
  return { verdict: flow === 'drop' ? 'drop' : 'accept', matched };
}

function runChain(name: string, els: Elements, p: Packet, user: UserRules, matched: string[]): Flow {
  if (name === USER_CHAIN) {
    const v = user(p);
    if (v) matched.push(`${USER_CHAIN}: ${v}`);
    return v ?? 'return';
  }
  const chain = CHAINS.find((c) => c.name === name);
  if (!chain) throw new Error(`no chain ${name}`);
  for (const r of chain.rules) {
    const flow = runRule(r.rule, els, p, user, matched, `${name}: ${r.comment}`);
    if (flow !== 'continue') return flow;
  }
  return 'return';
}

function verdictOf(words: string[], els: Elements, p: Packet, user: UserRules, matched: string[]): Flow {
  const [v, target] = words;
  if (v === 'accept' || v === 'drop' || v === 'return') return v;
  if ((v === 'jump' || v === 'goto') && target) {
    const f = runChain(target, els, p, user, matched);
    if (f === 'accept' || f === 'drop') return f;
    return v === 'jump' ? 'continue' : 'return';
  }
  throw new Error(`tracer: unknown verdict "${words.join(' ')}"`);
}

function runRule(rule: string, els: Elements, p: Packet, user: UserRules, matched: string[], label: string): Flow {
  const w = rule.split(' ');
  let i = 0;
  const setOf = (ref: string): Map<string, { value?: string }> => {
    const m = els.get(ref.replace(/^@/, ''));
    if (!m) throw new Error(`tracer: no set ${ref}`);
    return m;
  };
  while (i < w.length) {
    // statements and verdicts
    if (['accept', 'drop', 'return', 'jump', 'goto'].includes(w[i]!)) {
      matched.push(label);
      return verdictOf(w.slice(i), els, p, user, matched);
    }
    if (w.slice(i, i + 7).join(' ').startsWith('meta mark set meta mark |')) {
      p.mark = (p.mark ?? 0) | Number(w[i + 6]);
      matched.push(label);
      i += 7;
      if (i >= w.length) return 'continue';
      continue;
    }
    if (w[i] === 'meta' && w[i + 1] === 'mark' && w[i + 2] === '&') {
      const bits = Number(w[i + 3]);
      if (w[i + 4] !== '==' || ((p.mark ?? 0) & bits) !== Number(w[i + 5])) return 'continue';
      i += 6;
      continue;
    }
    if (w[i] === 'ct' && w[i + 1] === 'state') {
      if (!w[i + 2]!.split(',').includes(p.ct)) return 'continue';
      i += 3;
      continue;
    }
    if (w[i] === 'ether' && w[i + 1] === 'saddr' && w[i + 2] === '&' && w[i + 4] === '==') {
      const bytes = (mac: string): number[] => mac.split(':').map((h) => parseInt(h, 16));
      const [mac, mask, want] = [bytes(p.smac ?? '02:42:00:00:00:00'), bytes(w[i + 3]!), bytes(w[i + 5]!)];
      if (!mac.every((b, k) => (b & mask[k]!) === want[k])) return 'continue';
      i += 6;
      continue;
    }
    if (w[i] === 'ct' && w[i + 1] === 'status' && w[i + 2] === 'dnat') {
      if (!p.dnat) return 'continue';
      i += 3;
      continue;
    }
    // selector [ . selector ]* [!=] (@set | literal | vmap @map)
    const keys: string[] = [];
    for (;;) {
      const two = `${w[i]} ${w[i + 1]}`;
      if (FIELDS[two]) {
        keys.push(FIELDS[two]!(p));
        i += 2;
      } else if (FIELDS[w[i]!]) {
        keys.push(FIELDS[w[i]!]!(p));
        i += 1;
      } else {
        throw new Error(`tracer: cannot read "${w.slice(i).join(' ')}" in "${rule}"`);
      }
      if (w[i] !== '.') break;
      i += 1;
    }
    const key = keys.join(' . ');
    let negate = false;
    if (w[i] === '!=') {
      negate = true;
      i += 1;
    }
    if (w[i] === 'vmap') {
      const hit = setOf(w[i + 1]!).get(key);
      if (!hit) return 'continue';
      matched.push(label);
      return verdictOf(hit.value!.split(' '), els, p, user, matched);
    }
    const operand = w[i]!;
    const hit = operand.startsWith('@') ? setOf(operand).has(key) : operand.includes('/') ? inCidr(key, operand) : key === operand;
    if (hit === negate) return 'continue';
    i += 1;
  }
  return 'continue';
}
