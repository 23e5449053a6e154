// Pure: every `ip -batch` line berth runs. One batch runs in berthd's namespace (bridges, veth
// creation, bridge ports), one inside the sandbox's namespace (addresses, routes). Tests compare
// these lines with golden text (test/unit/golden/links/); kernel/links.ts and kernel/netns.ts
// only run an IpBatch, which only this module makes, and every value put into a line is checked
// here first (interface names, addresses, MACs, namespace paths), so nothing unchecked reaches
// an ip script. Names and addresses arrive as branded types (IfName, Ipv4) that only berth's parse
// functions make; the checks here are the last line, for the values that are not branded (MACs,
// MTUs, namespace paths) and for any cast.
import { Internal } from '../model/errors.js';
import { isIpv4 } from '../model/ip-literal.js';
import type { IfName, Ipv4 } from '../model/types.js';

/** Lines for one `ip -batch -` run; made only by the functions of this module. */
export type IpBatch = readonly string[] & { readonly __ipBatch: unique symbol };

const IFNAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const PATH_RE = /^\/[A-Za-z0-9_./-]+$/;

function dev(name: string): string {
  if (!IFNAME_RE.test(name)) throw new Internal(`refusing to put interface name "${name}" in an ip batch`);
  return name;
}
function addr(ip: string): string {
  if (!isIpv4(ip)) throw new Internal(`refusing to put address "${ip}" in an ip batch`);
  return ip;
}
function prefix(len: number, max = 32): string {
  if (!Number.isInteger(len) || len < 0 || len > max) throw new Internal(`refusing to put prefix length ${len} in an ip batch`);
  return String(len);
}
function mtu(n: number): string {
  if (!Number.isInteger(n) || n < 68 || n > 65535) throw new Internal(`refusing to put MTU ${n} in an ip batch`);
  return String(n);
}
function mac(m: string): string {
  if (!MAC_RE.test(m)) throw new Internal(`refusing to put MAC address "${m}" in an ip batch`);
  return m;
}
// Also keeps the helper's words whole: PATH_RE has no space or tab.
function nsPath(p: string): string {
  if (!PATH_RE.test(p) || p.includes('..')) throw new Internal(`refusing to put namespace path "${p}" in an ip batch`);
  return p;
}
const batch = (lines: string[]): IpBatch => lines as unknown as IpBatch;

export interface BridgePort {
  hostIf: IfName;
  ifName: IfName;
  bridge: IfName;
  /** Derived from the address (macFromIp). */
  mac: string;
  ip: Ipv4;
  prefixLen: number;
  mtu: number;
  /** Only the first network with a gateway gives the sandbox its default route. */
  defaultRouteVia?: Ipv4;
}

export interface P2pEnd {
  ifName: IfName;
  ip: Ipv4;
  peerIp: Ipv4;
}

export function bridgeHostBatch(netnsPath: string, ports: BridgePort[]): IpBatch {
  return batch(
    ports.flatMap((p) => [
      `link add ${dev(p.hostIf)} mtu ${mtu(p.mtu)} type veth peer name ${dev(p.ifName)} mtu ${mtu(p.mtu)} address ${mac(p.mac)} netns ${nsPath(netnsPath)}`,
      `link set ${dev(p.hostIf)} master ${dev(p.bridge)} up`,
      // Hairpin lets a sandbox reach its own published port through the host's address.
      `link set dev ${dev(p.hostIf)} type bridge_slave hairpin on`,
    ]),
  );
}

function sandboxLines(ports: BridgePort[]): string[] {
  return ports.flatMap((p) => [
    `addr add ${addr(p.ip)}/${prefix(p.prefixLen)} dev ${dev(p.ifName)}`,
    `link set ${dev(p.ifName)} up`,
    ...(p.defaultRouteVia ? [`route add default via ${addr(p.defaultRouteVia)} dev ${dev(p.ifName)}`] : []),
  ]);
}

export function bridgeSandboxBatch(ports: BridgePort[]): IpBatch {
  return batch(sandboxLines(ports));
}

export function p2pSandboxBatch(end: P2pEnd): IpBatch {
  return batch([
    `addr add ${addr(end.ip)}/32 dev ${dev(end.ifName)}`,
    `link set ${dev(end.ifName)} up`,
    `route add ${addr(end.peerIp)}/32 dev ${dev(end.ifName)} scope link`,
  ]);
}

/**
 * The veth of a point-to-point network, made in berthd's namespace: one end into each sandbox,
 * the first keeping its name, the second renamed on the way.
 */
export function p2pJoinBatch(o: { hostIf: IfName; ifName: IfName; netns: string; peerIfName: IfName; peerNetns: string }): IpBatch {
  return batch([
    `link add ${dev(o.hostIf)} type veth peer name ${dev(o.ifName)} netns ${nsPath(o.netns)}`,
    `link set ${dev(o.hostIf)} netns ${nsPath(o.peerNetns)} name ${dev(o.peerIfName)}`,
  ]);
}

export function bridgeCreateBatch(name: IfName, gateway: Ipv4, prefixLen: number, mtuValue: number, macValue?: string): IpBatch {
  return batch([
    `link add name ${dev(name)} mtu ${mtu(mtuValue)} ${macValue ? `address ${mac(macValue)} ` : ''}type bridge`,
    `addr add ${addr(gateway)}/${prefix(prefixLen)} dev ${dev(name)}`,
    `link set ${dev(name)} up`,
  ]);
}

/** An existing bridge made whole again at start: its gateway address and up (both idempotent). */
export function bridgeRepairBatch(name: IfName, gateway: Ipv4, prefixLen: number): IpBatch {
  return batch([`addr replace ${addr(gateway)}/${prefix(prefixLen)} dev ${dev(name)}`, `link set ${dev(name)} up`]);
}

/** Removes one interface (inside a sandbox's namespace, for a disconnect). */
export function linkDeleteBatch(ifName: IfName): IpBatch {
  return batch([`link del ${dev(ifName)}`]);
}

/**
 * Everything inside a new sandbox namespace in one batch, run by the process that creates the
 * namespace: each veth is made from inside with its peer pushed out to the host namespace
 * (hostNsPath), then addresses and routes. Saves one process per start over creating the veths
 * from the host side.
 */
export function sandboxCreateBatch(hostNsPath: string, ports: BridgePort[]): IpBatch {
  return batch([
    'link set lo up',
    ...ports.map(
      (p) =>
        `link add ${dev(p.ifName)} mtu ${mtu(p.mtu)} address ${mac(p.mac)} type veth peer name ${dev(p.hostIf)} mtu ${mtu(p.mtu)} netns ${nsPath(hostNsPath)}`,
    ),
    ...sandboxLines(ports),
  ]);
}

/** The host side of veths made by sandboxCreateBatch: into the bridge, up, hairpin. */
export function bridgeAttachBatch(ports: BridgePort[]): IpBatch {
  return batch(
    ports.flatMap((p) => [
      `link set ${dev(p.hostIf)} master ${dev(p.bridge)} up`,
      `link set dev ${dev(p.hostIf)} type bridge_slave hairpin on`,
      `neigh flush to ${addr(p.ip)} dev ${dev(p.bridge)}`, // as sandboxCreateOps: no stale entry for the address
    ]),
  );
}

/**
 * Service VIPs on bridges, from `have` to `want` ("BRIDGE VIP" items, see plan/vip-addrs.ts):
 * /32 addresses, so the host answers ARP for a VIP and no route is added.
 */
export function vipAddressBatch(have: readonly string[], want: readonly string[]): IpBatch {
  const h = new Set(have);
  const w = new Set(want);
  const line = (verb: 'add' | 'del', item: string) => {
    const [bridge = '', vip = ''] = item.split(' ');
    return `address ${verb} ${addr(vip)}/32 dev ${dev(bridge)}`;
  };
  return batch([...[...h].filter((x) => !w.has(x)).map((x) => line('del', x)), ...[...w].filter((x) => !h.has(x)).map((x) => line('add', x))]);
}

/** A remote endpoint's static entries on an overlay's VXLAN device (plan/overlay-plan.ts PeerEntry). */
export interface PeerLine {
  vxlan: IfName;
  ip: Ipv4;
  mac: string;
  vtep: Ipv4;
}

/** Neighbour entries of remote endpoints, for one `ip -batch -` run however many change (a dead
 * host's endpoints used to be one process each, and took seconds on a busy host). Removal is a
 * flush of that one address: `neigh del` of an entry already gone ends the whole batch (ip exits
 * on it even with -force), a flush that finds nothing does not. */
export function peerNeighBatch(verb: 'del' | 'replace', peers: readonly PeerLine[]): IpBatch {
  return batch(
    peers.map((p) =>
      verb === 'del'
        ? `neigh flush to ${addr(p.ip)} dev ${dev(p.vxlan)} nud permanent`
        : `neigh replace ${addr(p.ip)} lladdr ${mac(p.mac)} dev ${dev(p.vxlan)} nud permanent`,
    ),
  );
}

/** FDB entries of remote endpoints, for one `bridge -batch -` run (same checks as ip lines). */
export function peerFdbBatch(verb: 'del' | 'replace', peers: readonly PeerLine[]): IpBatch {
  return batch(peers.map((p) => `fdb ${verb} ${mac(p.mac)} dev ${dev(p.vxlan)} dst ${addr(p.vtep)} self${verb === 'replace' ? ' permanent' : ''}`));
}

/** An overlay network's VXLAN port on its bridge: static entries only (nolearning, ARP answered
 * from the neighbour table: proxy), UDP 4789, bound to the host's underlay address. */
export function vxlanCreateBatch(name: IfName, vni: number, local: Ipv4, bridge: IfName, mtuValue: number): IpBatch {
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) throw new Internal(`refusing to put VNI ${vni} in an ip batch`);
  return batch([
    `link add ${dev(name)} type vxlan id ${vni} local ${addr(local)} dstport 4789 nolearning proxy`,
    `link set ${dev(name)} mtu ${mtu(mtuValue)} master ${dev(bridge)} up`,
  ]);
}

/** Policy routing priority of the routing mesh's return rules inside a replica (plan/mesh-plan.ts). */
export const MESH_RULE_PRIORITY = 100;

function markText(m: number): string {
  if (!Number.isInteger(m) || m <= 0 || m > 0xffffffff) throw new Internal(`refusing to put mark ${m} in an ip batch`);
  return `0x${m.toString(16)}`;
}

/**
 * Inside a replica: for each other host that may deliver it a published-port flow, a rule
 * `fwmark M lookup M` and table M's default route via that host's mesh address (replies then go
 * back through the host that DNATed them). `drop` removes the rules (and routes) of hosts gone.
 */
export function meshRouteBatch(drop: readonly number[], add: ReadonlyArray<{ mark: number; via: Ipv4; dev: IfName }>, have: ReadonlySet<number>): IpBatch {
  const lines: string[] = [];
  for (const m of drop) lines.push(`rule del priority ${MESH_RULE_PRIORITY} fwmark ${markText(m)} table ${m}`, `route del default table ${m}`);
  for (const a of add) {
    if (!have.has(a.mark)) lines.push(`rule add priority ${MESH_RULE_PRIORITY} fwmark ${markText(a.mark)} table ${a.mark}`);
    lines.push(`route replace default via ${addr(a.via)} dev ${dev(a.dev)} table ${a.mark}`);
  }
  return batch(lines);
}

// ---- ops for berthd's netlink helper (kernel/netlink-helper.ts, native/berth-netlink.c) ----------

/** Ops for one request to the netlink helper; made only by the functions of this module. */
export type NlOps = readonly string[] & { readonly __nlOps: unique symbol };

const ops = (lines: string[]): NlOps => lines as unknown as NlOps;

/**
 * A new sandbox namespace at `netns` with everything in it, then the host ends on their bridges:
 * the same result as sandboxCreateBatch + bridgeAttachBatch, in one request. The veths are made
 * inside the namespace with their host ends put into berthd's.
 */
export function sandboxCreateOps(netns: string, ports: BridgePort[]): NlOps {
  const p = nsPath(netns);
  return ops([
    `nsadd ${p}`,
    `ns ${p}`,
    'up lo',
    ...ports.flatMap((x) => [
      `veth ${dev(x.ifName)} ${mtu(x.mtu)} ${mac(x.mac)} ${dev(x.hostIf)} ${mtu(x.mtu)}`,
      `addr ${addr(x.ip)} ${prefix(x.prefixLen)} ${dev(x.ifName)}`,
      `up ${dev(x.ifName)}`,
      ...(x.defaultRouteVia ? [`defroute ${addr(x.defaultRouteVia)} ${dev(x.ifName)}`] : []),
    ]),
    'ns -',
    // The host's neighbour entry for the address, left by its previous holder (FAILED after a
    // probe once it was gone), would refuse packets to the new sandbox for a while: dropped.
    ...ports.flatMap((x) => [`master ${dev(x.hostIf)} ${dev(x.bridge)}`, `hairpin ${dev(x.hostIf)}`, `neighdel ${addr(x.ip)} ${dev(x.bridge)}`]),
  ]);
}

/** Unmounts a sandbox namespace (its veths go with it once the kernel frees it) and removes its file. */
export function netnsDeleteOps(netns: string): NlOps {
  return ops([`nsdel ${nsPath(netns)}`]);
}

/** Deletes one link in berthd's namespace (a veth's host end left by a failed start). */
export function linkDeleteOps(name: IfName): NlOps {
  return ops([`del ${dev(name)}`]);
}

/** Asks for the listening TCP and bound UDP sockets of berthd's namespace (kernel/host-listeners.ts). */
export function listenersOps(): NlOps {
  return ops(['listeners']);
}

/**
 * A remote endpoint's entries on an overlay's VXLAN device, as helper ops: the same entries as
 * peerFdbBatch + peerNeighBatch, without a `bridge` and an `ip` process at every change. For
 * removals the helper counts an entry (or device) already gone as done, as the batches do
 * (`-force`, `neigh flush`).
 */
export function peerOps(verb: 'del' | 'replace', peers: readonly PeerLine[]): NlOps {
  return ops(
    peers.flatMap((p) =>
      verb === 'del'
        ? [`fdbdel ${mac(p.mac)} ${dev(p.vxlan)} ${addr(p.vtep)}`, `neighdel ${addr(p.ip)} ${dev(p.vxlan)}`]
        : [`fdbset ${mac(p.mac)} ${dev(p.vxlan)} ${addr(p.vtep)}`, `neighset ${addr(p.ip)} ${mac(p.mac)} ${dev(p.vxlan)}`],
    ),
  );
}
