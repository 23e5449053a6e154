// The part of the DNS view that comes from this host's sandboxes and networks, kept between
// changes so that a change costs what it touches (issue 13: O(changes), not O(sandboxes)).
// update(state) compares each sandbox's DNS inputs with the copy kept from the last update (a
// record's endpoints are edited in place by a connect, so identity cannot tell) and re-applies
// only the sandboxes that differ. The result is exactly what a fresh index of the same state
// holds: every value is derived from contributions kept in the order a full build adds them
// (by sandbox name, then within a sandbox in endpoint order), which the unit test checks against
// fresh indexes after random changes. Pure: no I/O.
import type { BerthState, NetworkRecord, SandboxRecord } from '../model/types.js';
import { shortId } from '../model/ids.js';
import { userNdots } from '../model/dns-options.js';

/** One DNS-enabled network and the names its sandboxes give it. */
export interface IndexedNet {
  /** Copied from the record: a view must not change when state is edited in place later. */
  readonly net: Readonly<Pick<NetworkRecord, 'id' | 'name' | 'subnet' | 'internal'>>;
  readonly gateway: string;
  /** lower-case name -> addresses in a stable order (each array is new when it changes: views share them). */
  readonly names: Map<string, readonly string[]>;
  /** address -> "name.network" for PTR. */
  readonly ptr: Map<string, string>;
  /** sandbox id -> its address on this network. */
  readonly ipOf: Map<string, string>;
}

/** What a sandbox asking a question may see. Immutable once made: views share it. */
export interface Asker {
  /** The sandbox's --dns servers (copied: the view must not follow later edits of state). */
  readonly dns: readonly string[];
  /** The ids of the asker's DNS-enabled networks, in interface order. */
  readonly netIds: readonly string[];
  /** network id -> link alias (lower case) -> target sandbox id. */
  readonly linkAliases: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** May names that are not berth's be forwarded? (false when all its networks are internal) */
  readonly external: boolean;
  /** The user set ndots > 0 (Docker then answers unknown single-label names with no data instead of forwarding). */
  readonly ndotsSet: boolean;
}

interface Contribution<V> {
  name: string;
  id: string;
  seq: number;
  v: V;
}

function before<V>(a: Contribution<V>, b: Contribution<V>): boolean {
  if (a.name !== b.name) return a.name < b.name;
  if (a.id !== b.id) return a.id < b.id;
  return a.seq < b.seq;
}

/** key -> contributions in build order, and `out`: key -> the value derived from them. */
class Ordered<V, D> {
  private readonly src = new Map<string, Array<Contribution<V>>>();
  constructor(
    readonly out: Map<string, D>,
    private readonly derive: (c: ReadonlyArray<Contribution<V>>) => D,
  ) {}

  add(key: string, c: Contribution<V>): void {
    let list = this.src.get(key);
    if (!list) this.src.set(key, (list = []));
    let i = list.length;
    while (i > 0 && before(c, list[i - 1]!)) i--;
    list.splice(i, 0, c);
    this.out.set(key, this.derive(list));
  }

  remove(key: string, id: string): void {
    const list = this.src.get(key);
    if (!list) return;
    const kept = list.filter((c) => c.id !== id);
    if (kept.length === list.length) return;
    if (kept.length === 0) {
      this.src.delete(key);
      this.out.delete(key);
    } else {
      this.src.set(key, kept);
      this.out.set(key, this.derive(kept));
    }
  }
}

const uniqueValues = (c: ReadonlyArray<Contribution<string>>): readonly string[] => [...new Set(c.map((x) => x.v))];
const lastValue = <V>(c: ReadonlyArray<Contribution<V>>): V => c[c.length - 1]!.v;

/** The fields of a sandbox the DNS view reads, copied. */
interface Inputs {
  name: string;
  hostname: string;
  dns: string[];
  dnsOptions: string[];
  links: Array<[string, string]>;
  eps: Array<{ networkId: string; ip: string | undefined; ifName: string; aliases: string[]; links: string[] }>;
}

function inputsOf(sb: SandboxRecord): Inputs {
  return {
    name: sb.name,
    hostname: sb.config.userHostname && sb.config.hostname ? sb.config.hostname : '',
    dns: [...sb.config.dns],
    dnsOptions: [...sb.config.dnsOptions],
    links: sb.config.links.map((l) => [l.alias, l.targetId]),
    eps: Object.values(sb.endpoints).map((e) => ({ networkId: e.networkId, ip: e.ip, ifName: e.ifName, aliases: [...e.aliases], links: [...e.links] })),
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Does `sb` still have the DNS inputs `p`? No allocation when it does (the usual case). */
function sameInputs(p: Inputs, sb: SandboxRecord): boolean {
  const c = sb.config;
  if (p.name !== sb.name || p.hostname !== (c.userHostname && c.hostname ? c.hostname : '')) return false;
  if (!sameList(p.dns, c.dns) || !sameList(p.dnsOptions, c.dnsOptions) || p.links.length !== c.links.length) return false;
  for (let i = 0; i < p.links.length; i++) if (p.links[i]![0] !== c.links[i]!.alias || p.links[i]![1] !== c.links[i]!.targetId) return false;
  let i = 0;
  for (const k in sb.endpoints) {
    const e = sb.endpoints[k]!;
    const q = p.eps[i++];
    if (!q || q.networkId !== e.networkId || q.ip !== e.ip || q.ifName !== e.ifName || !sameList(q.aliases, e.aliases) || !sameList(q.links, e.links)) return false;
  }
  return i === p.eps.length;
}

function ifIndex(ifName: string): number {
  const m = /(\d+)$/.exec(ifName);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

/** What the index keeps of a network: changing any of it rebuilds the index. */
function networksKey(state: BerthState): string {
  let k = '';
  for (const n of Object.values(state.networks)) k += `${n.id}\0${n.name}\0${n.dns ? 1 : 0}\0${n.gateway ?? ''}\0${n.subnet ?? ''}\0${n.internal ? 1 : 0}\n`;
  return k;
}

interface Indexed {
  inputs: Inputs;
  /** Keys it contributed to, to take back: [network id, name] and [network id, ptr address]. */
  names: Array<[string, string]>;
  ptrs: Array<[string, string]>;
  ipOf: string[];
  askerIps: string[];
  /** It has --link text to resolve against other sandboxes' ids and names (legacy links). */
  linker: boolean;
}

export class SandboxDnsIndex {
  private netsKey: string | undefined;
  /** DNS-enabled networks in state order. */
  nets: IndexedNet[] = [];
  private byId = new Map<string, IndexedNet>();
  private internal = new Map<string, boolean>();
  private nameSrc = new Map<string, Ordered<string, readonly string[]>>();
  private ptrSrc = new Map<string, Ordered<string, string>>();
  /** address -> the sandbox asking from it. */
  readonly askers = new Map<string, Asker>();
  private askerSrc = new Ordered<Asker, Asker>(this.askers, lastValue);
  private sandboxes = new Map<string, Indexed>();
  /** Ids of the sandboxes with --link text (Indexed.linker). */
  private linkers = new Set<string>();

  /**
   * Ids of the sandboxes the last update re-applied or took out (a superset of those whose DNS
   * inputs changed); undefined when it started afresh (a network changed): any may have.
   */
  lastChanged: string[] | undefined;

  /** Bring the index to `state`; returns how many sandboxes were (re)applied or taken out, for the bench. */
  update(state: BerthState): number {
    const key = networksKey(state);
    const fresh = key !== this.netsKey;
    if (fresh) this.reset(state, key);
    const gone: string[] = [];
    const changed: string[] = [];
    let identities = false; // a sandbox came, went or was renamed: --link text may resolve differently
    let kept = 0;
    let removed = 0;
    for (const id in state.sandboxes) {
      const sb = state.sandboxes[id]!;
      const had = this.sandboxes.get(id);
      if (had) kept++;
      if (had && sameInputs(had.inputs, sb)) continue;
      if (!had || had.inputs.name !== sb.name) identities = true;
      changed.push(id);
    }
    if (kept !== this.sandboxes.size) {
      for (const [id, had] of this.sandboxes) {
        if (id in state.sandboxes) continue;
        this.take(id, had);
        this.sandboxes.delete(id);
        identities = true;
        removed++;
        gone.push(id);
      }
    }
    if (identities) for (const id of this.linkers) if (!changed.includes(id)) changed.push(id);
    let byName: Map<string, SandboxRecord> | undefined;
    const names = (): Map<string, SandboxRecord> => (byName ??= new Map(Object.values(state.sandboxes).map((s) => [s.name, s])));
    for (const id of changed) {
      const had = this.sandboxes.get(id);
      if (had) this.take(id, had);
      this.put(state, state.sandboxes[id]!, names);
    }
    this.lastChanged = fresh ? undefined : [...changed, ...gone];
    return changed.length + removed;
  }

  private reset(state: BerthState, key: string): void {
    this.netsKey = key;
    this.nets = [];
    this.byId = new Map();
    this.internal = new Map();
    this.nameSrc = new Map();
    this.ptrSrc = new Map();
    this.askers.clear();
    this.askerSrc = new Ordered<Asker, Asker>(this.askers, lastValue);
    this.sandboxes = new Map();
    this.linkers = new Set();
    for (const n of Object.values(state.networks)) {
      this.internal.set(n.id, n.internal);
      if (!n.dns || !n.gateway) continue;
      const idx: IndexedNet = {
        net: Object.freeze({ id: n.id, name: n.name, subnet: n.subnet, internal: n.internal }),
        gateway: n.gateway,
        names: new Map(),
        ptr: new Map(),
        ipOf: new Map(),
      };
      this.nets.push(idx);
      this.byId.set(n.id, idx);
      this.nameSrc.set(n.id, new Ordered(idx.names, uniqueValues));
      this.ptrSrc.set(n.id, new Ordered(idx.ptr, lastValue));
    }
  }

  /** Take back everything sandbox `id` contributed. */
  private take(id: string, had: Indexed): void {
    for (const [net, name] of had.names) this.nameSrc.get(net)!.remove(name, id);
    for (const [net, ip] of had.ptrs) this.ptrSrc.get(net)!.remove(ip, id);
    for (const net of had.ipOf) this.byId.get(net)!.ipOf.delete(id);
    for (const ip of had.askerIps) this.askerSrc.remove(ip, id);
    had.names = [];
    had.ptrs = [];
    had.ipOf = [];
    had.askerIps = [];
    this.linkers.delete(id);
  }

  private put(state: BerthState, sb: SandboxRecord, byName: () => Map<string, SandboxRecord>): void {
    const inputs = inputsOf(sb);
    const rec: Indexed = { inputs, names: [], ptrs: [], ipOf: [], askerIps: [], linker: inputs.eps.some((e) => e.links.length > 0) };
    this.sandboxes.set(sb.id, rec);
    if (rec.linker) this.linkers.add(sb.id);
    let seq = 0;
    const c = <V>(v: V): Contribution<V> => ({ name: sb.name, id: sb.id, seq: seq++, v });
    for (const ep of inputs.eps) {
      const idx = this.byId.get(ep.networkId);
      if (!idx || !ep.ip) continue;
      idx.ipOf.set(sb.id, ep.ip);
      rec.ipOf.push(ep.networkId);
      this.ptrSrc.get(ep.networkId)!.add(ep.ip, c(`${sb.name}.${idx.net.name}`));
      rec.ptrs.push([ep.networkId, ep.ip]);
      for (const n of [sb.name, shortId(sb.id), inputs.hostname, ...ep.aliases]) {
        if (!n) continue;
        const key = n.toLowerCase();
        this.nameSrc.get(ep.networkId)!.add(key, c(ep.ip));
        rec.names.push([ep.networkId, key]);
      }
    }

    const eps = inputs.eps.filter((e) => e.ip).sort((a, b) => ifIndex(a.ifName) - ifIndex(b.ifName));
    const netIds = eps.filter((e) => this.byId.has(e.networkId)).map((e) => e.networkId);
    if (netIds.length === 0) return;
    const linkAliases = new Map<string, Map<string, string>>();
    for (const ep of eps) {
      if (!this.byId.has(ep.networkId)) continue;
      const m = new Map<string, string>();
      for (const [alias, targetId] of inputs.links) m.set(alias.toLowerCase(), targetId);
      for (const l of ep.links) {
        const [target, alias] = l.split(':', 2) as [string, string | undefined];
        const t = state.sandboxes[target] ?? byName().get(target.replace(/^\//, ''));
        if (t) m.set((alias ?? t.name).toLowerCase(), t.id); // link text recorded by berth from validated names
      }
      if (m.size) linkAliases.set(ep.networkId, m);
    }
    const nd = userNdots(sb.config.dnsOptions);
    const asker: Asker = Object.freeze({
      dns: Object.freeze(inputs.dns),
      netIds: Object.freeze(netIds),
      linkAliases,
      external: eps.some((e) => this.internal.has(e.networkId) && !this.internal.get(e.networkId)),
      ndotsSet: nd !== undefined && nd > 0,
    });
    for (const ep of eps) {
      this.askerSrc.add(ep.ip!, c(asker));
      rec.askerIps.push(ep.ip!);
    }
  }
}
