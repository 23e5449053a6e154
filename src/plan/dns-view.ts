// What berth's embedded DNS answers, as an immutable snapshot of state (grpc-js Picker style):
// berthd makes a new view on every state change (DnsViewBuilder: only the changed sandboxes are
// re-applied, dns-sandbox-index.ts) and swaps it into the server in one assignment,
// so there is never a moment without answers. Pure: no I/O. The only mutable part is the
// rotation cursor of names with several addresses (like a round-robin picker's index).
//
// Who asks: the query's source address identifies the sandbox (its endpoint address); the
// address it was sent to (a network's gateway) says which network it came in on.
// What it may see: names on the DNS-enabled networks the asking sandbox is attached to, never
// an address on a network it is not on (Docker's behaviour).
import { catalogView, type NodeInfo } from '../catalog/view.js';
import { ConsulZone } from '../catalog/dns-zone.js';
import type { BerthState } from '../model/types.js';
import { SandboxDnsIndex, type Asker, type IndexedNet } from './dns-sandbox-index.js';
import type { HostService } from '../model/host-service.js';
import { shortId } from '../model/ids.js';
import { ipv4InCidr, isIpv4 } from '../model/ip-literal.js';
import { servicesOnNetworks } from './service-view.js';

export const QTYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 } as const;

/** TTL of local answers: 0, so a moved or removed sandbox is never served from a cache. */
export const LOCAL_TTL = 0;

export interface DnsRecord {
  type: 'A' | 'PTR' | 'SRV';
  /** An IPv4 address (A) or a name without a trailing dot (PTR, SRV target). */
  data: string;
  ttl: number;
  /** SRV only: the target's port (priority and weight are 1 and 1, as Consul's). */
  port?: number;
  /** The owner name, for records of the additional section (A of an SRV target). */
  name?: string;
}

export type DnsDecision =
  /** Answer from berth's names: records (maybe none: NOERROR with no data, e.g. AAAA of a local name). */
  | { kind: 'local'; rcode: 'NOERROR' | 'NXDOMAIN'; records: DnsRecord[]; why: string; additional?: DnsRecord[] }
  /** Not a local name: ask upstream. `upstreams` is the sandbox's --dns list, or 'host' for berthd's resolvers. */
  | { kind: 'forward'; upstreams: 'host' | readonly string[] }
  /** The asker is not served by berth's DNS (unknown source, or an address berth does not listen on for DNS). */
  | { kind: 'refuse'; why: string };

/** A sandbox on another host, on one of this host's overlay networks. */
export interface RemoteName {
  networkId: string;
  ip: string;
  name: string;
  sandboxId: string;
  aliases: readonly string[];
}

export interface DnsView {
  /** Gateway addresses of the DNS-enabled networks: where the server must listen. */
  readonly addresses: readonly string[];
  /** A number that grows with each view, for logs. */
  readonly serial: number;
  answer(listenIp: string, askerIp: string, qname: string, qtype: number): DnsDecision;
}

/** A DNS-enabled network as one view answers for it: the sandboxes' names (copied from the index)
 * plus other hosts' sandboxes and services. */
interface NetIndex {
  net: IndexedNet['net'];
  names: Map<string, readonly string[]>;
  ptr: Map<string, string>;
  ipOf: Map<string, string>;
  /** Services' SRV names (_N._tcp.N, _N._udp.N) -> one entry per replica in rotation and port. */
  srv: Map<string, Array<{ target: string; port: number; ip: string }>>;
}

export interface DnsViewOptions {
  /** Answer Consul's names (N.service.consul, _N._tcp.service.consul) from the catalog as this node. */
  consul?: NodeInfo;
  /** Sandboxes on other hosts, on this host's overlay networks (docs/overlay.md). */
  remote?: readonly RemoteName[];
}

let serialCounter = 0;

function lc(s: string): string {
  return s.toLowerCase();
}

/** Add a name without changing the list in place: lists are shared with the index and other views. */
function addName(idx: NetIndex, name: string, ip: string): void {
  if (!name) return;
  const key = lc(name);
  const list = idx.names.get(key);
  if (!list) idx.names.set(key, [ip]);
  else if (!list.includes(ip)) idx.names.set(key, [...list, ip]);
}

/** "4.3.2.1.in-addr.arpa" -> "1.2.3.4", or undefined. */
export function ptrToIpv4(qname: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa\.?$/i.exec(qname);
  if (!m) return undefined;
  const ip = `${m[4]}.${m[3]}.${m[2]}.${m[1]}`;
  return isIpv4(ip) ? ip : undefined;
}

export function ipv4ToPtr(ip: string): string {
  return ip.split('.').reverse().join('.') + '.in-addr.arpa';
}

class View implements DnsView {
  readonly serial = ++serialCounter;
  readonly addresses: readonly string[];
  private readonly byGateway = new Map<string, NetIndex>();
  private readonly byNetName = new Map<string, NetIndex>();
  private readonly services = new Map<string, string>();
  private readonly servicePtr = new Map<string, string>();
  private readonly subnets: string[] = [];
  private readonly cursor = new Map<string, number>();
  /** address -> its one-record answer, built once. */
  private readonly single = new Map<string, DnsRecord[]>();
  private readonly consul: ConsulZone | undefined;

  /** asker -> its networks in this view, made at its first question. */
  private readonly scopes = new Map<Asker, NetIndex[]>();
  private readonly nets = new Map<string, NetIndex>();
  private readonly askers: ReadonlyMap<string, Asker>;

  constructor(index: SandboxDnsIndex, state: BerthState, hostServices: readonly HostService[], opts: DnsViewOptions) {
    this.consul = opts.consul ? new ConsulZone(catalogView(state, opts.consul)) : undefined;
    const nets = this.nets;
    for (const n of index.nets) {
      // Copies (native, cheap): the index changes with the next state, this view must not.
      const idx: NetIndex = { net: n.net, names: new Map(n.names), ptr: new Map(n.ptr), ipOf: new Map(n.ipOf), srv: new Map() };
      nets.set(n.net.id, idx);
      this.byGateway.set(n.gateway, idx);
      this.byNetName.set(lc(n.net.name), idx);
      if (n.net.subnet) this.subnets.push(n.net.subnet);
    }
    this.addresses = [...this.byGateway.keys()].sort();
    this.askers = new Map(index.askers);

    // Sandboxes on other hosts (overlay networks): their names, aliases and PTR, never askers.
    for (const r of [...(opts.remote ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const idx = nets.get(r.networkId);
      if (!idx) continue;
      idx.ptr.set(r.ip, `${r.name}.${idx.net.name}`);
      addName(idx, r.name, r.ip);
      addName(idx, shortId(r.sandboxId), r.ip);
      idx.ipOf.set(r.sandboxId, r.ip); // a link to it from this host (--link on an overlay)
      for (const a of r.aliases) addName(idx, a, r.ip);
    }

    // Services: NAME (and its aliases) -> the VIP, or the replicas in rotation (dnsrr);
    // tasks.NAME -> the replicas in rotation; _NAME._tcp.NAME -> SRV of replica ports.
    for (const s of servicesOnNetworks(state)) {
      const idx = nets.get(s.networkId);
      if (!idx) continue;
      const ips = s.tasks.map((t) => t.ip);
      for (const n of [s.service.name, ...s.service.spec.aliases]) idx.names.set(lc(n), s.vip ? [s.vip] : [...ips]);
      idx.names.set(lc(`tasks.${s.service.name}`), [...ips]);
      if (s.vip) idx.ptr.set(s.vip, `${s.service.name}.${idx.net.name}`);
      for (const proto of ['tcp', 'udp'] as const) {
        const ports = s.service.spec.ports.filter((p) => p.proto === proto);
        const entries = s.tasks.flatMap((t) => ports.map((p) => ({ target: `${t.sandbox}.${idx.net.name}`, port: p.target, ip: t.ip })));
        idx.srv.set(lc(`_${s.service.name}._${proto}.${s.service.name}`), entries);
      }
    }

    for (const s of hostServices) {
      if (!this.services.has(lc(s.name))) this.services.set(lc(s.name), s.ip);
      if (!this.servicePtr.has(s.ip)) this.servicePtr.set(s.ip, s.name);
    }
  }

  answer(listenIp: string, askerIp: string, qname: string, qtype: number): DnsDecision {
    const listen = this.byGateway.get(listenIp);
    if (!listen) return { kind: 'refuse', why: `no DNS-enabled network has gateway ${listenIp}` };
    let asker = this.askers.get(askerIp);
    if (!asker) {
      // The host itself (a gateway address or 127.0.0.1) or an address in this network not (yet)
      // known: it sees the names of the network it asked on. Anything else is refused, so the
      // server is no open resolver even without the firewall's input rules.
      const fromHost = this.byGateway.has(askerIp) || askerIp === '127.0.0.1';
      const inNet = listen.net.subnet !== undefined && ipv4InCidr(askerIp, listen.net.subnet);
      if (!fromHost && !inNet) return { kind: 'refuse', why: `${askerIp} is not on a berth network` };
      asker = undefined;
    }
    const scope = asker ? orderScope(this.scopeOf(asker), listen) : [listen];
    const external = asker ? asker.external : !listen.net.internal;
    const name = lc(qname.endsWith('.') ? qname.slice(0, -1) : qname);

    // The catalog's zone (.consul) when it is served inside sandboxes: berth is authoritative for it.
    const zone = this.consul?.answer(name, qtype);
    if (zone) return { kind: 'local', rcode: zone.rcode, records: zone.records, additional: zone.additional, why: 'consul catalog' };

    if (qtype === QTYPE.PTR) {
      const ip = ptrToIpv4(name);
      if (ip) {
        for (const idx of scope) {
          const n = idx.ptr.get(ip);
          if (n) return { kind: 'local', rcode: 'NOERROR', records: [{ type: 'PTR', data: n, ttl: LOCAL_TTL }], why: 'sandbox address' };
        }
        const svc = this.servicePtr.get(ip);
        if (svc) return { kind: 'local', rcode: 'NOERROR', records: [{ type: 'PTR', data: svc, ttl: LOCAL_TTL }], why: 'host service' };
        if (this.subnets.some((s) => ipv4InCidr(ip, s))) {
          return { kind: 'local', rcode: 'NXDOMAIN', records: [], why: 'berth subnet address not visible to the asker' };
        }
      }
    }

    if (qtype === QTYPE.SRV) {
      const hit = this.srvLookup(scope, name);
      if (hit) {
        return {
          kind: 'local',
          rcode: 'NOERROR',
          records: hit.map((e) => ({ type: 'SRV', data: e.target, port: e.port, ttl: LOCAL_TTL })),
          additional: [...new Map(hit.map((e) => [e.target, { type: 'A' as const, name: e.target, data: e.ip, ttl: LOCAL_TTL }])).values()],
          why: 'service SRV',
        };
      }
    }

    const ips = this.lookup(asker, scope, name);
    if (ips) {
      if (qtype !== QTYPE.A && qtype !== QTYPE.ANY) return { kind: 'local', rcode: 'NOERROR', records: [], why: 'local name, no such type' };
      return { kind: 'local', rcode: 'NOERROR', records: this.rotate(ips.key, ips.list), why: 'local name' };
    }

    if (!external) return { kind: 'local', rcode: 'NXDOMAIN', records: [], why: 'internal network: not forwarded' };
    if (asker?.ndotsSet && !name.includes('.') && (qtype === QTYPE.A || qtype === QTYPE.AAAA)) {
      return { kind: 'local', rcode: 'NOERROR', records: [], why: 'single label with the user ndots: not forwarded (as Docker)' };
    }
    const dns = asker?.dns ?? [];
    return { kind: 'forward', upstreams: dns.length > 0 ? dns : 'host' };
  }

  private scopeOf(asker: Asker): NetIndex[] {
    let nets = this.scopes.get(asker);
    if (!nets) {
      nets = asker.netIds.map((id) => this.nets.get(id)!);
      this.scopes.set(asker, nets);
    }
    return nets;
  }

  /** _N._tcp.N, or _N._tcp.N.NETWORK for a network in scope. */
  private srvLookup(scope: NetIndex[], name: string): Array<{ target: string; port: number; ip: string }> | undefined {
    for (const idx of scope) {
      const hit = idx.srv.get(name);
      if (hit) return hit;
    }
    const labels = name.split('.');
    for (let i = 1; i < labels.length; i++) {
      const idx = this.byNetName.get(labels.slice(i).join('.'));
      if (idx && scope.includes(idx)) {
        const hit = idx.srv.get(labels.slice(0, i).join('.'));
        if (hit) return hit;
      }
    }
    return undefined;
  }

  private lookup(asker: Asker | undefined, scope: NetIndex[], name: string): { key: string; list: readonly string[] } | undefined {
    const inNet = (idx: NetIndex, n: string): { key: string; list: readonly string[] } | undefined => {
      const target = asker?.linkAliases.get(idx.net.id)?.get(n);
      const linked = target !== undefined ? idx.ipOf.get(target) : undefined;
      if (linked) return { key: `${idx.net.id}|link|${n}`, list: [linked] };
      const list = idx.names.get(n);
      return list ? { key: `${idx.net.id}|${n}`, list } : undefined;
    };
    // Link aliases are the asker's own names and come first, as Docker's local aliases.
    for (const idx of scope) {
      const target = asker?.linkAliases.get(idx.net.id)?.get(name);
      const linked = target !== undefined ? idx.ipOf.get(target) : undefined;
      if (linked) return { key: `${idx.net.id}|link|${name}`, list: [linked] };
    }
    for (const idx of scope) {
      const list = idx.names.get(name);
      if (list) return { key: `${idx.net.id}|${name}`, list };
    }
    // "name.network" (network names may contain dots: try every split).
    const labels = name.split('.');
    for (let i = 1; i < labels.length; i++) {
      const idx = this.byNetName.get(labels.slice(i).join('.'));
      if (idx && scope.includes(idx)) {
        const hit = inNet(idx, labels.slice(0, i).join('.'));
        if (hit) return hit;
      }
    }
    const svc = this.services.get(name);
    if (svc) return { key: `svc|${name}`, list: [svc] };
    return undefined;
  }

  private rotate(key: string, list: readonly string[]): DnsRecord[] {
    if (list.length === 1) {
      // One address (the usual case): the same frozen record each time, nothing allocated per query.
      const ip = list[0]!;
      let one = this.single.get(ip);
      if (!one) {
        one = Object.freeze([Object.freeze<DnsRecord>({ type: 'A', data: ip, ttl: LOCAL_TTL })]) as DnsRecord[];
        this.single.set(ip, one);
      }
      return one;
    }
    let start = 0;
    if (list.length > 1) {
      start = this.cursor.get(key) ?? 0;
      this.cursor.set(key, (start + 1) % list.length);
    }
    const out: DnsRecord[] = [];
    for (let i = 0; i < list.length; i++) out.push({ type: 'A', data: list[(start + i) % list.length]!, ttl: LOCAL_TTL });
    return out;
  }
}

/** The network the query came in on first, then the asker's other networks in interface order. */
function orderScope(nets: NetIndex[], listen: NetIndex): NetIndex[] {
  if (nets[0] === listen) return nets; // the usual case (one network): no copy per query
  return nets.includes(listen) ? [listen, ...nets.filter((n) => n !== listen)] : nets;
}

/**
 * Build the DNS view of a state from scratch. The daemon keeps a DnsViewBuilder instead, whose
 * views are the same at a cost proportional to the change.
 */
export function dnsView(state: BerthState, hostServices: readonly HostService[] = [], opts: DnsViewOptions = {}): DnsView {
  return new DnsViewBuilder().view(state, hostServices, opts);
}

/**
 * Views of successive states: keeps the sandboxes' part (dns-sandbox-index.ts) and re-applies
 * only the sandboxes whose DNS inputs changed. Each view is as immutable as dnsView's.
 */
export class DnsViewBuilder {
  private readonly index = new SandboxDnsIndex();
  /** Sandboxes re-applied or taken out by the last view (the bench checks it). */
  lastApplied = 0;

  /** Ids of the sandboxes whose DNS inputs the last view may have found changed (undefined: any). */
  get lastChanged(): readonly string[] | undefined {
    return this.index.lastChanged;
  }

  view(state: BerthState, hostServices: readonly HostService[] = [], opts: DnsViewOptions = {}): DnsView {
    this.lastApplied = this.index.update(state);
    return new View(this.index, state, hostServices, opts);
  }
}

/** Gateway addresses berth's DNS server must listen on for this state. */
export function dnsAddresses(state: BerthState): string[] {
  return [
    ...new Set(
      Object.values(state.networks)
        .filter((n) => n.dns && n.gateway)
        .map((n) => n.gateway!),
    ),
  ].sort();
}
