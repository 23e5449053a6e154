// A sandbox's network: reserving addresses (pure, in state), then building or removing the
// kernel objects: its namespace, veth pairs into bridges, point-to-point pairs.
import { parseIfName } from '../model/net-values.js';
import { BadRequest, Conflict } from '../model/errors.js';
import { macFromIp, newId } from '../model/ids.js';
import type { DomainName, EndpointRecord, IfName, Ipv4, NetworkRecord, SandboxRecord } from '../model/types.js';
import { allocateAddress, planSubnet } from '../ipam/allocator.js';
import { parseCidr } from '../ipam/ipv4.js';
import {
  bridgeAttachBatch,
  bridgeHostBatch,
  bridgeSandboxBatch,
  linkDeleteBatch,
  linkDeleteOps,
  netnsDeleteOps,
  p2pJoinBatch,
  p2pSandboxBatch,
  sandboxCreateBatch,
  sandboxCreateOps,
  type BridgePort,
} from '../plan/link-plan.js';
import { createNetnsWith, deleteNetns } from '../kernel/netns.js';
import { deleteLink, ipBatch } from '../kernel/links.js';
import { netlinkHelper } from '../kernel/netlink-helper.js';
import type { Ctx } from './context.js';

export const IP_ONLY_WITH_USER_SUBNET =
  'user specified IP address is supported only when connecting to networks with user configured subnets';

/** Does this sandbox get a network namespace of its own? */
export function ownsNetns(sb: SandboxRecord): boolean {
  const m = sb.config.networkMode;
  return m !== 'host' && !m.startsWith('container:');
}

/** The namespace the sandbox's processes live in (undefined: berthd's own, host mode). */
export function netnsOf(ctx: Ctx, sb: SandboxRecord): string | undefined {
  const m = sb.config.networkMode;
  if (m === 'host') return undefined;
  if (m.startsWith('container:')) return ctx.netnsPath(m.slice('container:'.length));
  return ctx.netnsPath(sb.id);
}

/** The host side of an endpoint's veth: bv + 12 hex digits of its id (an IfName by construction). */
function hostIfNameFor(endpointId: string): IfName {
  return parseIfName(`bv${endpointId.slice(0, 12)}`);
}

export function usedAddresses(ctx: Ctx, net: NetworkRecord): Set<string> {
  const used = new Set<string>();
  if (net.gateway) used.add(net.gateway);
  // Service VIPs are reserved in their network's IPAM.
  for (const svc of Object.values(ctx.state.services ?? {})) {
    const vip = svc.vips[net.id];
    if (vip) used.add(vip);
  }
  for (const s of Object.values(ctx.state.sandboxes)) {
    const ep = s.endpoints[net.id];
    if (ep?.ip) used.add(ep.ip);
  }
  if (net.overlay) for (const ip of ctx.overlay?.taken(net.id) ?? []) used.add(ip);
  return used;
}

function nextIfName(sb: SandboxRecord): IfName {
  const taken = new Set<string>(Object.values(sb.endpoints).map((e) => e.ifName));
  for (let i = 0; ; i++) if (!taken.has(`eth${i}`)) return parseIfName(`eth${i}`);
}

/** Reserves an endpoint (address, names) on a network in state; no kernel change. */
export function reserveEndpoint(ctx: Ctx, sb: SandboxRecord, net: NetworkRecord, ip: Ipv4 | undefined, aliases: DomainName[]): EndpointRecord {
  if (net.driver !== 'bridge' && net.driver !== 'p2p') throw new BadRequest(`network ${net.name} cannot hold endpoints`);
  if (ip && !net.userSubnet) throw new BadRequest(IP_ONLY_WITH_USER_SUBNET);
  if (net.driver === 'p2p') {
    const members = Object.values(ctx.state.sandboxes).filter((s) => s.id !== sb.id && s.endpoints[net.id]);
    if (members.length >= 2) {
      throw new Conflict(`point-to-point network ${net.name} already joins two sandboxes (${members.map((m) => m.name).join(', ')})`);
    }
  }
  const plan = planSubnet(net.subnet!, net.gateway, net.ipRange);
  const address = allocateAddress(plan, usedAddresses(ctx, net), ip);
  const id = newId();
  const ep: EndpointRecord = {
    id,
    networkId: net.id,
    ifName: nextIfName(sb),
    hostIfName: hostIfNameFor(id),
    ip: address,
    prefixLen: net.driver === 'p2p' ? 32 : parseCidr(net.subnet!).len,
    mac: macFromIp(address),
    gateway: net.gateway,
    staticIp: Boolean(ip),
    aliases,
    links: [],
  };
  sb.endpoints[net.id] = ep;
  return ep;
}

/** reserveEndpoint, and on an overlay network the cluster-wide claim of the address (compare-
 * and-swap in etcd): an address another host took meanwhile is skipped and the next tried. */
export async function reserveEndpointClaimed(ctx: Ctx, sb: SandboxRecord, net: NetworkRecord, ip: Ipv4 | undefined, aliases: DomainName[]): Promise<EndpointRecord> {
  const hooks = ctx.overlay;
  if (!net.overlay) return reserveEndpoint(ctx, sb, net, ip, aliases);
  if (!hooks) throw new Conflict(`network ${net.name} is an overlay network and berthd runs without --cluster-store`);
  const lost = new Set<string>();
  for (let attempt = 0; attempt < 16; attempt++) {
    const ep = reserveEndpoint(ctx, sb, net, ip, aliases);
    if (lost.has(ep.ip!)) throw new Conflict(`no free address on network ${net.name}: other hosts took them meanwhile`);
    if (await hooks.claim(net, sb, ep)) return ep;
    delete sb.endpoints[net.id];
    if (ip) throw new Conflict(`Address already in use: ${ip} is held on network ${net.name} by a sandbox on another host`);
    lost.add(ep.ip!);
  }
  throw new Conflict(`could not claim an address on network ${net.name}: too many concurrent claims; try again`);
}

function bridgePort(net: NetworkRecord, ep: EndpointRecord, defaultRoute: boolean): BridgePort {
  return {
    hostIf: ep.hostIfName!,
    ifName: ep.ifName,
    bridge: net.bridge!,
    mac: ep.mac!,
    ip: ep.ip!,
    prefixLen: ep.prefixLen!,
    mtu: net.mtu,
    defaultRouteVia: defaultRoute ? ep.gateway : undefined,
  };
}

/** Builds the namespace and every reserved endpoint of a sandbox that is starting. */
export async function setupNetwork(ctx: Ctx, sb: SandboxRecord): Promise<void> {
  if (!ownsNetns(sb)) return;
  const ns = ctx.netnsPath(sb.id);
  const ports: BridgePort[] = [];
  let routed = false;
  let overlay = false;
  for (const { networkId } of sb.config.networks) {
    const net = ctx.state.networks[networkId];
    const ep = sb.endpoints[networkId];
    if (!net || !ep || net.driver !== 'bridge') continue;
    ports.push(bridgePort(net, ep, !routed));
    routed = true;
    overlay ||= Boolean(net.overlay);
  }
  const nl = netlinkHelper();
  try {
    if (overlay) {
      // On an overlay network other hosts have the address, and its MAC through the VXLAN
      // proxy, from the claim on: peers may be sending before this start wires it. The side that
      // comes up second has its queue made live at once, the first one only when the kernel
      // gets to it; a reply (an ARP request) sent in between is lost and its retry costs ~1 s
      // (BENCHMARKS.md §11). So the sandbox's side comes up last, in three processes (the
      // netlink helper's one request brings the sandbox's side up first).
      await createNetnsWith(ns, sandboxCreateBatch(`/proc/${process.pid}/ns/net`, []));
      await ipBatch(bridgeHostBatch(ns, ports));
      await ipBatch(bridgeSandboxBatch(ports), ns);
    } else if (nl) {
      // One request to the long-lived helper: the namespace, everything inside it, the host ends
      // on their bridges; no process is started.
      await nl.run(sandboxCreateOps(ns, ports));
    } else {
      // Two processes: one creates the namespace and does everything inside it (the veths are
      // made there, their host ends pushed out to berthd's namespace); one puts the host ends on bridges.
      await createNetnsWith(ns, sandboxCreateBatch(`/proc/${process.pid}/ns/net`, ports));
      await ipBatch(bridgeAttachBatch(ports));
    }
  } catch (err) {
    // A half-made namespace must not keep its veths: remove them with it.
    for (const p of ports) {
      if (nl) await nl.run(linkDeleteOps(p.hostIf)).catch(() => undefined);
      else await deleteLink(p.hostIf);
    }
    throw err;
  }
  for (const ep of Object.values(sb.endpoints)) {
    const net = ctx.state.networks[ep.networkId];
    if (net?.driver === 'p2p') await joinP2p(ctx, sb, net, ep);
  }
}

/** Joins the two ends of a point-to-point network once both sandboxes are there. */
async function joinP2p(ctx: Ctx, sb: SandboxRecord, net: NetworkRecord, ep: EndpointRecord): Promise<void> {
  const peer = Object.values(ctx.state.sandboxes).find(
    (s) => s.id !== sb.id && s.state.status === 'running' && s.state.pid > 0 && s.endpoints[net.id],
  );
  if (!peer) return; // the first one waits for its peer
  const peerEp = peer.endpoints[net.id]!;
  const myNs = ctx.netnsPath(sb.id);
  const peerNs = netnsOf(ctx, peer)!;
  await ipBatch(p2pJoinBatch({ hostIf: ep.hostIfName ?? ('' as IfName), ifName: ep.ifName, netns: myNs, peerIfName: peerEp.ifName, peerNetns: peerNs }));
  await ipBatch(p2pSandboxBatch({ ifName: ep.ifName, ip: ep.ip!, peerIp: peerEp.ip! }), myNs);
  await ipBatch(p2pSandboxBatch({ ifName: peerEp.ifName, ip: peerEp.ip!, peerIp: ep.ip! }), peerNs);
}

/** Removes the namespace; its veth pairs, addresses and routes go with it. */
export async function teardownNetwork(ctx: Ctx, sb: SandboxRecord): Promise<void> {
  if (!ownsNetns(sb)) return;
  // Unmounting releases the namespace (its processes are gone by now); the kernel then destroys
  // its veth pairs, host sides included, without the ~20 ms a `link del` costs per pair. Any
  // straggler with berth's names is removed by the next reconcile.
  const nl = netlinkHelper();
  if (nl) await nl.run(netnsDeleteOps(ctx.netnsPath(sb.id)));
  else await deleteNetns(ctx.netnsPath(sb.id));
}

/** Connects a running sandbox to one more network. */
export async function attachEndpoint(ctx: Ctx, sb: SandboxRecord, net: NetworkRecord, ep: EndpointRecord): Promise<void> {
  const ns = ctx.netnsPath(sb.id);
  if (net.driver === 'p2p') return joinP2p(ctx, sb, net, ep);
  const hasRoute = Object.values(sb.endpoints).some((e) => e.id !== ep.id && ctx.state.networks[e.networkId]?.driver === 'bridge');
  const port = bridgePort(net, ep, !hasRoute);
  await ipBatch(bridgeHostBatch(ns, [port]));
  await ipBatch(bridgeSandboxBatch([port]), ns);
}

export async function detachEndpoint(ctx: Ctx, sb: SandboxRecord, net: NetworkRecord, ep: EndpointRecord): Promise<void> {
  if (net.driver === 'bridge' && ep.hostIfName) return deleteLink(ep.hostIfName);
  await ipBatch(linkDeleteBatch(ep.ifName), ctx.netnsPath(sb.id)).catch(() => undefined);
}
