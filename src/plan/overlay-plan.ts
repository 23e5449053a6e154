// Overlay networks, the pure part: what a cluster-wide network is, which subnet and VNI a new one
// gets, and which FDB/neighbour entries a host must hold for the remote endpoints it knows.
// No I/O: the cluster store (store/cluster-store.ts) and the daemon (daemon/overlay.ts) do that.
import { BadRequest, Conflict } from '../model/errors.js';
import { parseIfName } from '../model/net-values.js';
import type { Cidr, IfName, Ipv4 } from '../model/types.js';
import { formatCidr, parseCidr, type Prefix } from '../ipam/ipv4.js';

/** VXLAN's UDP port (IANA), as Docker and the kernel default. */
export const VXLAN_PORT = 4789;
/** Outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8. */
export const VXLAN_OVERHEAD = 50;
/** Docker swarm's VNI range starts here; lower ones are left to others on the underlay. */
export const FIRST_VNI = 4096;
export const LAST_VNI = 2 ** 24 - 1;
/** Where overlay subnets come from without --subnet: 10.0.0.0/8 in /24s, as swarm's default pool. */
export const OVERLAY_POOL = { base: 10 << 24, len: 8, size: 24 } as const;

/** A network as the cluster store holds it (/berth/networks/<id>): the same on every host. */
export interface OverlayNetworkSpec {
  id: string;
  name: string;
  subnet: Cidr;
  gateway: Ipv4;
  /** --subnet was given (then --ip is allowed, as on a bridge). */
  userSubnet: boolean;
  vni: number;
  internal: boolean;
  attachable: boolean;
  created: string;
  options: Record<string, string>;
  labels: Record<string, string>;
}

/** An endpoint as the cluster store holds it (/berth/endpoints/<net>/<ip>), on its host's lease. */
export interface OverlayEndpoint {
  networkId: string;
  ip: Ipv4;
  mac: string;
  /** Node name and underlay address (VTEP) of the host the sandbox runs on. */
  host: string;
  vtep: Ipv4;
  sandboxId: string;
  name: string;
  aliases: string[];
  /** ms since the epoch when the owning host claimed it: other hosts log how long it took them
   * to program it (convergence; meaningful when clocks agree, as in the one-machine lab). */
  claimedAt?: number;
  /** Not a sandbox: a service's VIP (claimed for good, no host) or a host's mesh address (the
   * next hop replicas on other hosts route published-port replies to; see plan/mesh-plan.ts). */
  kind?: 'vip' | 'mesh';
}

export const HOST_BRIDGE_MAC_PREFIX = '02:4d';

/** The MAC of a host's bridge of an overlay network: 02:4d + its underlay address, so that each
 * host's bridge is told apart by replicas on other hosts (the routing mesh's return path).
 * Sandbox MACs are 02:42 + their address, so the two never meet. */
export function hostBridgeMac(advertiseAddr: Ipv4): string {
  return [...HOST_BRIDGE_MAC_PREFIX.split(':'), ...advertiseAddr.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

export function vxlanNameFor(networkId: string): IfName {
  return parseIfName(`bvx${networkId.slice(0, 9)}`);
}

function overlaps(a: Prefix, b: Prefix): boolean {
  const lastA = a.base + 2 ** (32 - a.len) - 1;
  const lastB = b.base + 2 ** (32 - b.len) - 1;
  return a.base <= lastB && b.base <= lastA;
}

/** The subnet for a new overlay network: the one asked for if it overlaps nothing, else the
 * first free /24 of 10.0.0.0/8 (from 10.0.1.0/24) that overlaps nothing in `taken`. */
export function pickOverlaySubnet(asked: Cidr | undefined, taken: Array<{ name: string; subnet: string }>): Cidr {
  const prefixes = taken.map((t) => ({ ...t, p: parseCidr(t.subnet) }));
  if (asked) {
    const p = parseCidr(asked);
    const clash = prefixes.find((t) => overlaps(t.p, p));
    if (clash) throw new Conflict(`Pool overlaps with other one on this address space: ${asked} overlaps network ${clash.name} (${clash.subnet})`);
    return asked;
  }
  const step = 2 ** (32 - OVERLAY_POOL.size);
  const count = 2 ** (OVERLAY_POOL.size - OVERLAY_POOL.len);
  for (let i = 1; i < count; i++) {
    const p = { base: (OVERLAY_POOL.base + i * step) >>> 0, len: OVERLAY_POOL.size };
    if (!prefixes.some((t) => overlaps(t.p, p))) return formatCidr(p);
  }
  throw new BadRequest('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}

export function pickVni(taken: Iterable<number>): number {
  const used = new Set(taken);
  for (let v = FIRST_VNI; v <= LAST_VNI; v++) if (!used.has(v)) return v;
  throw new Conflict('no free VXLAN network identifier');
}

/** One remote endpoint's entries on this host: neighbour ip -> mac and FDB mac -> vtep. */
export interface PeerEntry {
  vxlan: IfName;
  ip: Ipv4;
  mac: string;
  vtep: Ipv4;
}

export function peerKey(p: PeerEntry): string {
  return `${p.vxlan} ${p.ip} ${p.mac} ${p.vtep}`;
}

/** Entries to remove (first) and to add so that `current` becomes `desired`. A moved endpoint
 * (same ip, other mac or vtep) is a removal plus an addition. */
export function diffPeers(current: readonly PeerEntry[], desired: readonly PeerEntry[]): { del: PeerEntry[]; add: PeerEntry[] } {
  const cur = new Map(current.map((p) => [peerKey(p), p]));
  const want = new Map(desired.map((p) => [peerKey(p), p]));
  return {
    del: [...cur].filter(([k]) => !want.has(k)).map(([, p]) => p),
    add: [...want].filter(([k]) => !cur.has(k)).map(([, p]) => p),
  };
}

/** Entries this host needs: every endpoint of another host on a network this host has. */
export function desiredPeers(endpoints: readonly OverlayEndpoint[], self: string, localNets: ReadonlySet<string>): PeerEntry[] {
  return endpoints
    .filter((e) => e.kind !== 'vip' && e.host !== self && localNets.has(e.networkId))
    .map((e) => ({ vxlan: vxlanNameFor(e.networkId), ip: e.ip, mac: e.mac, vtep: e.vtep }))
    .sort((a, b) => peerKey(a).localeCompare(peerKey(b)));
}
