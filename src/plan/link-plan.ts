// Pure: the `ip -batch` lines that build a sandbox's interfaces. One batch runs in berthd's
// namespace (veth creation, bridge ports), one inside the sandbox's namespace (addresses,
// routes). Tests compare these lines with golden text; the kernel module only runs them.
// Every name and address is a branded type (IfName, Ipv4): only berth's parse functions make them,
// so nothing a client typed goes into a line unchecked.
import type { IfName, Ipv4 } from '../model/types.js';

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

export function bridgeHostBatch(netnsPath: string, ports: BridgePort[]): string[] {
  return ports.flatMap((p) => [
    `link add ${p.hostIf} mtu ${p.mtu} type veth peer name ${p.ifName} mtu ${p.mtu} address ${p.mac} netns ${netnsPath}`,
    `link set ${p.hostIf} master ${p.bridge} up`,
    // Hairpin lets a sandbox reach its own published port through the host's address.
    `link set dev ${p.hostIf} type bridge_slave hairpin on`,
  ]);
}

export function bridgeSandboxBatch(ports: BridgePort[]): string[] {
  return ports.flatMap((p) => [
    `addr add ${p.ip}/${p.prefixLen} dev ${p.ifName}`,
    `link set ${p.ifName} up`,
    ...(p.defaultRouteVia ? [`route add default via ${p.defaultRouteVia} dev ${p.ifName}`] : []),
  ]);
}

export function p2pSandboxBatch(end: P2pEnd): string[] {
  return [
    `addr add ${end.ip}/32 dev ${end.ifName}`,
    `link set ${end.ifName} up`,
    `route add ${end.peerIp}/32 dev ${end.ifName} scope link`,
  ];
}

export function bridgeCreateBatch(name: IfName, gateway: Ipv4, prefixLen: number, mtu: number, mac?: string): string[] {
  return [
    `link add name ${name} mtu ${mtu} ${mac ? `address ${mac} ` : ''}type bridge`,
    `addr add ${gateway}/${prefixLen} dev ${name}`,
    `link set ${name} up`,
  ];
}

/** An existing bridge made whole again at start: its gateway address and up (both idempotent). */
export function bridgeRepairBatch(name: IfName, gateway: Ipv4, prefixLen: number): string[] {
  return [`addr replace ${gateway}/${prefixLen} dev ${name}`, `link set ${name} up`];
}

/**
 * Everything inside a new sandbox namespace in one batch, run by the process that creates the
 * namespace: each veth is made from inside with its peer pushed out to the host namespace
 * (hostNsPath), then addresses and routes. Saves one process per start over creating the veths
 * from the host side.
 */
export function sandboxCreateBatch(hostNsPath: string, ports: BridgePort[]): string[] {
  return [
    'link set lo up',
    ...ports.map(
      (p) => `link add ${p.ifName} mtu ${p.mtu} address ${p.mac} type veth peer name ${p.hostIf} mtu ${p.mtu} netns ${hostNsPath}`,
    ),
    ...bridgeSandboxBatch(ports),
  ];
}

/** The host side of veths made by sandboxCreateBatch: into the bridge, up, hairpin. */
export function bridgeAttachBatch(ports: BridgePort[]): string[] {
  return ports.flatMap((p) => [`link set ${p.hostIf} master ${p.bridge} up`, `link set dev ${p.hostIf} type bridge_slave hairpin on`]);
}
