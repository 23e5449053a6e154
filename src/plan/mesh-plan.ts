// The routing mesh's return path, planned for one replica (docs/overlay.md "Routing mesh").
// Pure: text in, text out; kernel/mesh.ts runs it inside the replica's namespace.
//
// A published port of a service across hosts is DNATed on whichever host the client reached
// (no SNAT: the replica sees the client). The replica's default route leads to its own host, which
// has no conntrack entry for a flow another host DNATed, so the reply must go back through the
// host that DNATed it. Each host's bridge on an overlay network has its own MAC (02:4d + its
// underlay address: plan/overlay-plan hostBridgeMac), so the replica can tell who delivered a new
// flow: its conntrack mark is set from the frame's source MAC, replies carry that mark as their
// routing mark, and policy routing sends them to that host's mesh address (an address of the
// network each host claims; other hosts hold it only as a neighbour entry -> the host's MAC).
import { Internal } from '../model/errors.js';
import type { IfName, Ipv4 } from '../model/types.js';
import { parseIp } from '../ipam/ipv4.js';

/** Another host that may deliver published-port flows to a replica on this network. */
export interface MeshPeer {
  node: string;
  /** Its bridge's MAC on this network. */
  mac: string;
  /** Its mesh address on this network. */
  meshIp: Ipv4;
}

export const MESH_TABLE = 'berth-mesh';
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A host's conntrack/routing mark (and routing table) inside replicas: 0x4d000000 + the low 24
 * bits of its mesh address (unique within any overlay subnet of /8 or smaller). */
export function meshMark(meshIp: Ipv4): number {
  return 0x4d000000 + (parseIp(meshIp) & 0xffffff);
}

/** The replica's whole `berth-mesh` table in one nft transaction (made again from scratch:
 * add-then-delete makes it idempotent); with no peers, the table is only removed. */
export function meshReturnNft(peers: readonly MeshPeer[]): string {
  const lines = [`add table ip ${MESH_TABLE}`, `delete table ip ${MESH_TABLE}`];
  if (peers.length === 0) return lines.join('\n') + '\n';
  const elements = [...peers]
    .sort((a, b) => (a.node < b.node ? -1 : 1))
    .map((p) => {
      if (!MAC_RE.test(p.mac)) throw new Internal(`refusing to put MAC "${p.mac}" in the mesh table`);
      return `${p.mac} : 0x${meshMark(p.meshIp).toString(16)}`;
    });
  lines.push(
    `add table ip ${MESH_TABLE} { comment "berth routing mesh: replies of flows another host DNATed go back through it"; }`,
    `add map ip ${MESH_TABLE} ingress { type ether_addr : mark; comment "bridge MAC of another host -> its mark"; }`,
    `add element ip ${MESH_TABLE} ingress { ${elements.join(', ')} }`,
    `add chain ip ${MESH_TABLE} pre { type filter hook prerouting priority mangle; policy accept; }`,
    `add rule ip ${MESH_TABLE} pre ct state new ct mark set ether saddr map @ingress comment "who delivered this flow"`,
    `add chain ip ${MESH_TABLE} out { type route hook output priority mangle; policy accept; }`,
    `add rule ip ${MESH_TABLE} out ct mark != 0 meta mark set ct mark comment "its replies are routed by it"`,
  );
  return lines.join('\n') + '\n';
}

/** The routes of meshRouteBatch (plan/link-plan.ts) for these peers on interface `dev`. */
export function meshRoutes(peers: readonly MeshPeer[], dev: IfName): Array<{ mark: number; via: Ipv4; dev: IfName }> {
  return [...peers].sort((a, b) => (a.node < b.node ? -1 : 1)).map((p) => ({ mark: meshMark(p.meshIp), via: p.meshIp, dev }));
}
