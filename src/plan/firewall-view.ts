// What berth's firewall needs to know about the state, and nothing else. Pure.
// firewallView(state) is the single input of the nftables planner (nft-ruleset.ts): two states
// with the same view produce the same ruleset, so the daemon can call Firewall.sync after every
// change and only real differences reach the kernel.
import { ANY_IPV4 } from '../model/net-values.js';
import type { HostService } from '../model/host-service.js';
import { isIpv4 } from '../model/ip-literal.js';
import { servicesOnNetworks, slotTargets } from './service-view.js';
import type { BerthState, Cidr, EndpointRecord, IfName, Ipv4, NetworkRecord, PortProto, SandboxRecord } from '../model/types.js';

/** A bridge network as the firewall sees it. */
export interface FwBridge {
  /** Kernel device, e.g. berth0. */
  name: IfName;
  network: string;
  subnet: Cidr;
  icc: boolean;
  internal: boolean;
  /** Effective masquerade (never on internal networks). */
  masquerade: boolean;
  /** The address berth's embedded DNS answers on for this network, if it has one (user networks). */
  resolver?: Ipv4;
}

/** One published port: host ip:port/proto -> sandbox ip:port. */
export interface FwPublished {
  hostIp: Ipv4; // '0.0.0.0' for every host address
  hostPort: number;
  proto: PortProto;
  targetIp: Ipv4;
  targetPort: number;
  sandbox: string;
}

/** A legacy link on a network with ICC off: from may open to:port/proto. */
export interface FwLink {
  fromIp: Ipv4;
  toIp: Ipv4;
  proto: PortProto;
  port: number;
  from: string;
  to: string;
}

/** A host service: sandboxes connect to ip:port/proto and reach hostIp:hostPort on the host. */
export interface FwHostService {
  name: string;
  ip: Ipv4;
  port: number;
  proto: PortProto;
  hostIp: Ipv4;
  hostPort: number;
}

/** A service's virtual IP on one network: new flows go round-robin over `backends` (in rotation). */
export interface FwVip {
  service: string;
  network: string;
  vip: Ipv4;
  /** One address per slot (plan/service-view slotTargets); empty when no replica is in rotation. */
  slots: Ipv4[];
}

/** A host port a service publishes: new flows go round-robin over its replicas' target port. */
export interface FwServicePort {
  service: string;
  hostPort: number;
  proto: PortProto;
  targetPort: number;
  /** One address per slot; empty when no replica is in rotation. */
  slots: Ipv4[];
}

export interface FirewallView {
  bridges: FwBridge[];
  published: FwPublished[];
  links: FwLink[];
  hostServices: FwHostService[];
  /** Service VIPs (absent in views built before services existed: same as none). */
  vips?: FwVip[];
  servicePorts?: FwServicePort[];
  /** Things ignored on purpose, for the daemon's log (e.g. ports of a sandbox only on internal networks). */
  warnings: string[];
}

export interface FirewallViewOptions {
  /** berthd --host-service values, parsed. */
  hostServices?: readonly HostService[];
  /** berthd --ip-masq=false turns masquerade off everywhere (NetworkRecord.masquerade already folds it in). */
  ipMasq?: boolean;
}

const isBridge = (n: NetworkRecord | undefined): n is NetworkRecord & { bridge: IfName; subnet: Cidr } =>
  !!n && n.driver === 'bridge' && !!n.bridge && !!n.subnet;

/** Endpoints of a sandbox on bridge networks that have an address, in the order the sandbox asked for them. */
function bridgeEndpoints(state: BerthState, sb: SandboxRecord): Array<{ ep: EndpointRecord & { ip: Ipv4 }; net: NetworkRecord }> {
  const eps = Object.values(sb.endpoints);
  const rank = (id: string): number => {
    const i = sb.config.networks.findIndex((n) => n.networkId === id);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return eps
    .filter((ep): ep is EndpointRecord & { ip: Ipv4 } => !!ep.ip && isIpv4(ep.ip))
    .map((ep) => ({ ep, net: state.networks[ep.networkId] }))
    .filter((x): x is { ep: EndpointRecord & { ip: Ipv4 }; net: NetworkRecord } => isBridge(x.net))
    .sort((a, b) => rank(a.ep.networkId) - rank(b.ep.networkId) || (a.ep.ifName < b.ep.ifName ? -1 : 1));
}

/**
 * The address published ports of a sandbox lead to: its endpoint on the first non-internal bridge
 * network it asked for (the one that gives it its default route, as in Docker), or undefined.
 */
export function publishTarget(state: BerthState, sb: SandboxRecord): { ip: Ipv4; network: NetworkRecord } | undefined {
  const hit = bridgeEndpoints(state, sb).find((x) => !x.net.internal);
  return hit ? { ip: hit.ep.ip, network: hit.net } : undefined;
}

/**
 * Before endpoints exist (at create or start, when host ports are allocated): the network whose
 * endpoint will receive the sandbox's published ports, or undefined when every network it asked for
 * is internal (or not a bridge): then its ports are not published (allocateHostPorts `internal`).
 * Its hostBindingIpv4 is the default address for -p without one.
 */
export function publishNetwork(state: BerthState, sb: Pick<SandboxRecord, 'config'>): NetworkRecord | undefined {
  for (const n of sb.config.networks) {
    const net = state.networks[n.networkId];
    if (isBridge(net) && !net.internal) return net;
  }
  return undefined;
}

/** Ports a link target opens to the sandboxes linking to it: --expose and the container side of -p. */
function exposedOf(sb: SandboxRecord): Array<{ port: number; proto: PortProto }> {
  const all = [...sb.config.exposedPorts];
  for (const r of sb.config.portRequests) {
    for (let p = r.containerPortStart; p <= r.containerPortEnd; p++) all.push({ port: p, proto: r.proto });
  }
  const seen = new Set<string>();
  return all.filter((p) => {
    const k = `${p.port}/${p.proto}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function firewallView(state: BerthState, opts: FirewallViewOptions = {}): FirewallView {
  const sandboxes = Object.values(state.sandboxes)
    .filter((sb) => Object.keys(sb.endpoints).length > 0)
    .sort(byName);
  const warnings: string[] = [];
  const published: FwPublished[] = [];
  for (const sb of sandboxes) {
    const mine = publishedOf(state, sb);
    if (typeof mine === 'string') warnings.push(mine);
    else published.push(...mine);
  }
  return assemble(state, opts, sandboxes, published, warnings);
}

/** A sandbox's published ports as the firewall sees them, or the warning that says why they are ignored. */
function publishedOf(state: BerthState, sb: SandboxRecord): readonly FwPublished[] | string {
  if (sb.ports.length === 0) return [];
  const target = publishTarget(state, sb);
  if (!target) return `published ports of ${sb.name} are ignored: it is connected only to internal networks`;
  return sb.ports.map((b) => ({
    hostIp: b.hostIp || ANY_IPV4,
    hostPort: b.hostPort,
    proto: b.proto,
    targetIp: target.ip,
    targetPort: b.containerPort,
    sandbox: sb.name,
  }));
}

/** The view from its sandboxes' part (sandboxes with endpoints by name, their published ports and warnings). */
function assemble(state: BerthState, opts: FirewallViewOptions, sandboxes: readonly SandboxRecord[], published: FwPublished[], warnings: string[]): FirewallView {
  const bridges: FwBridge[] = Object.values(state.networks)
    .filter(isBridge)
    .map((n) => ({
      name: n.bridge,
      network: n.name,
      subnet: n.subnet,
      icc: n.icc,
      internal: n.internal,
      masquerade: n.masquerade && !n.internal && opts.ipMasq !== false,
      ...(n.dns && n.gateway ? { resolver: n.gateway } : {}),
    }))
    .sort(byName);

  // Legacy links (Docker: default bridge only; on user networks a link is a DNS alias) matter only
  // where ICC is off: they open the target's exposed ports to the linking sandbox.
  const links: FwLink[] = [];
  for (const sb of sandboxes) {
    for (const link of sb.config.links) {
      const target = state.sandboxes[link.targetId];
      if (!target || Object.keys(target.endpoints).length === 0) continue;
      const mine = bridgeEndpoints(state, sb);
      const theirs = bridgeEndpoints(state, target);
      for (const a of mine) {
        if (a.net.icc || !a.net.builtin) continue;
        const b = theirs.find((t) => t.ep.networkId === a.ep.networkId);
        if (!b) continue;
        for (const p of exposedOf(target)) {
          links.push({ fromIp: a.ep.ip, toIp: b.ep.ip, proto: p.proto, port: p.port, from: sb.name, to: target.name });
        }
      }
    }
  }

  const hostServices: FwHostService[] = (opts.hostServices ?? []).map((s) => ({
    name: s.name,
    ip: s.ip,
    port: s.port,
    proto: s.proto,
    hostIp: s.hostIp,
    hostPort: s.hostPort,
  }));

  const vips: FwVip[] = [];
  const servicePorts: FwServicePort[] = [];
  const onNets = servicesOnNetworks(state);
  for (const s of onNets) {
    if (s.vip) vips.push({ service: s.service.name, network: s.networkName, vip: s.vip, slots: slotTargets(s.tasks.map((t) => t.ip)) });
  }
  // A published port reaches replicas on the service's first non-internal bridge network.
  const onByKey = new Map(onNets.map((s) => [`${s.service.id}|${s.networkId}`, s]));
  for (const svc of Object.values(state.services ?? {}).sort(byName)) {
    if (!svc.spec.ports.some((p) => p.published)) continue;
    const pubNet = svc.spec.networks.find((id) => isBridge(state.networks[id]) && !state.networks[id]!.internal);
    const on = onByKey.get(`${svc.id}|${pubNet}`);
    for (const p of svc.spec.ports) {
      if (!p.published) continue;
      if (!on) {
        warnings.push(`published ports of service ${svc.name} are ignored: it is on no non-internal bridge network`);
        break;
      }
      // mode=local: this host's own replicas in rotation when it has any (no second hop).
      const local = p.mode === 'local' ? on.tasks.filter((t) => t.node === undefined) : [];
      const tasks = local.length ? local : on.tasks;
      servicePorts.push({ service: svc.name, hostPort: p.published, proto: p.proto, targetPort: p.target, slots: slotTargets(tasks.map((t) => t.ip)) });
    }
  }

  return { bridges, published, links, hostServices, vips, servicePorts, warnings };
}

/** What the firewall takes from a network for a sandbox's published ports: a change of any of it starts the builder afresh. */
function networksKey(state: BerthState): string {
  let k = '';
  for (const id in state.networks) {
    const n = state.networks[id]!;
    k += `${id}\0${n.driver}\0${n.bridge ?? ''}\0${n.subnet ?? ''}\0${n.internal ? 1 : 0}\n`;
  }
  return k;
}

/** What a sandbox's part of the view was made from, kept to compare with the next state. */
interface KeptSandbox {
  name: string;
  ports: Array<[string, number, string, number]>;
  /** Endpoints in record order: network id, address, interface name. */
  eps: Array<[string, string | undefined, string]>;
  /** Network ids in the order the sandbox asked for them. */
  asked: string[];
  part: readonly FwPublished[] | string;
}

function keep(state: BerthState, sb: SandboxRecord): KeptSandbox {
  return {
    name: sb.name,
    ports: sb.ports.map((b) => [b.hostIp, b.hostPort, b.proto, b.containerPort]),
    eps: Object.values(sb.endpoints).map((e) => [e.networkId, e.ip, e.ifName]),
    asked: sb.config.networks.map((n) => n.networkId),
    part: publishedOf(state, sb),
  };
}

function hasAny(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** Does `sb` still have what `k` was made from? No allocation when it does (the usual case). */
function sameSandbox(k: KeptSandbox, sb: SandboxRecord): boolean {
  if (k.name !== sb.name || k.ports.length !== sb.ports.length || k.asked.length !== sb.config.networks.length) return false;
  for (let i = 0; i < k.ports.length; i++) {
    const a = k.ports[i]!;
    const b = sb.ports[i]!;
    if (a[0] !== b.hostIp || a[1] !== b.hostPort || a[2] !== b.proto || a[3] !== b.containerPort) return false;
  }
  for (let i = 0; i < k.asked.length; i++) if (k.asked[i] !== sb.config.networks[i]!.networkId) return false;
  let i = 0;
  for (const id in sb.endpoints) {
    const e = sb.endpoints[id]!;
    const q = k.eps[i++];
    if (!q || q[0] !== e.networkId || q[1] !== e.ip || q[2] !== e.ifName) return false;
  }
  return i === k.eps.length;
}

/**
 * Views of successive states, the same as firewallView's, at a cost that grows with what changed:
 * each sandbox's published ports (and warning) are kept with what they were made from and made
 * again only when that differs (records are edited in place, so identity cannot tell); the
 * sandboxes stay in name order between changes. Unchanged sandboxes keep their FwPublished
 * objects, which the elements builder (nft-elements-builder.ts) compares by identity first.
 * Links, bridges and services are made as firewallView makes them (few, or none).
 */
export class FirewallViewBuilder {
  private netsKey: string | undefined;
  private readonly kept = new Map<string, KeptSandbox>();
  /** Ids of the sandboxes with endpoints, by name. */
  private order: string[] = [];

  view(state: BerthState, opts: FirewallViewOptions = {}): FirewallView {
    const key = networksKey(state);
    if (key !== this.netsKey) {
      this.netsKey = key;
      this.kept.clear();
      this.order = [];
    }
    let removed = false;
    let renamed = false;
    let stayed = 0;
    const came: string[] = [];
    for (const id in state.sandboxes) {
      const sb = state.sandboxes[id]!;
      const had = this.kept.get(id);
      if (!hasAny(sb.endpoints)) {
        if (had) {
          this.kept.delete(id);
          removed = true;
        }
        continue;
      }
      if (had) stayed++;
      if (had && sameSandbox(had, sb)) continue;
      if (had && had.name !== sb.name) renamed = true;
      if (!had) came.push(id);
      this.kept.set(id, keep(state, sb));
    }
    if (stayed + came.length !== this.kept.size) {
      // Some sandboxes were removed from the state.
      for (const id of [...this.kept.keys()]) {
        if (id in state.sandboxes) continue;
        this.kept.delete(id);
        removed = true;
      }
    }
    const name = (id: string): string => this.kept.get(id)!.name;
    if (removed) this.order = this.order.filter((id) => this.kept.has(id));
    // Renamed sandboxes move: sort again.
    if (renamed) this.order.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
    for (const id of came) {
      // Binary search for the first name after it, as firewallView's sort by name places it.
      let lo = 0;
      let hi = this.order.length;
      const n = name(id);
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (name(this.order[mid]!) <= n) lo = mid + 1;
        else hi = mid;
      }
      this.order.splice(lo, 0, id);
    }
    const sandboxes: SandboxRecord[] = [];
    const published: FwPublished[] = [];
    const warnings: string[] = [];
    let last: string | undefined;
    for (const id of this.order) {
      const k = this.kept.get(id)!;
      if (k.name === last) {
        // Two sandboxes of one name (not a state berth makes): their order is the state's, as firewallView's.
        this.netsKey = undefined;
        return firewallView(state, opts);
      }
      last = k.name;
      sandboxes.push(state.sandboxes[id]!);
      if (typeof k.part === 'string') warnings.push(k.part);
      else for (const p of k.part) published.push(p);
    }
    return assemble(state, opts, sandboxes, published, warnings);
  }
}

/** An empty view: no networks, nothing published. */
export function emptyView(): FirewallView {
  return { bridges: [], published: [], links: [], hostServices: [], warnings: [] };
}
