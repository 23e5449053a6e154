// Network operations: create, remove, prune, and the built-in networks.
import { BadRequest, BerthError, Conflict } from '../model/errors.js';
import { macFromIp, newNetworkId } from '../model/ids.js';
import { ANY_IPV4, parseIfName, parseIpv4 } from '../model/net-values.js';
import type { Cidr, IfName, Ipv4, NetworkDriver, NetworkRecord } from '../model/types.js';
import { defaultGateway, planSubnet } from '../ipam/allocator.js';
import { formatCidr, parseCidr, type Prefix } from '../ipam/ipv4.js';
import { nextFreeSubnet } from '../ipam/pools.js';
import { bridgeCreateBatch, bridgeRepairBatch } from '../plan/link-plan.js';
import { deleteLink, ipBatch, linkExists, listRoutes } from '../kernel/links.js';
import type { Ctx } from './context.js';
import type { CreateNetworkInput } from './schema/network-schemas.js';

export const OPT_BRIDGE_NAME = 'com.docker.network.bridge.name';
export const OPT_ICC = 'com.docker.network.bridge.enable_icc';
export const OPT_MASQ = 'com.docker.network.bridge.enable_ip_masquerade';
export const OPT_HOST_BINDING = 'com.docker.network.bridge.host_binding_ipv4';
export const OPT_MTU = 'com.docker.network.driver.mtu';
export const DEFAULT_BRIDGE = parseIfName('berth0');

/** A boolean driver option (`true`/`1`/`false`/`0`); anything else is refused naming the option. */
export function boolOption(opts: Record<string, string>, key: string, dflt: boolean): boolean {
  const v = opts[key];
  if (v === undefined) return dflt;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new BadRequest(`invalid value "${v}" for option ${key}: use true or false`);
}

/** The default host address for -p: the network's option, else berthd --default-bind-ip. */
export function hostBindingOf(options: Record<string, string>, daemonDefault: Ipv4): Ipv4 {
  const opt = options[OPT_HOST_BINDING];
  return opt === undefined ? daemonDefault : parseIpv4(opt, `option ${OPT_HOST_BINDING}`);
}

export function bridgeNameFor(id: string): IfName {
  return parseIfName(`berth-${id.slice(0, 9)}`);
}

/** Checks a parsed request against state and the host; returns the record to create; touches nothing. */
export async function planNetwork(ctx: Ctx, req: CreateNetworkInput): Promise<NetworkRecord> {
  const name = req.Name;
  if (Object.values(ctx.state.networks).some((n) => n.name === name)) {
    throw new Conflict(`network with name ${name} already exists`);
  }
  if (req.Driver === 'overlay') throw new BadRequest('overlay networks are made by the cluster store');
  const driver: NetworkDriver = req.Driver;
  if (driver === 'host' || driver === 'null') {
    throw new Conflict(`only one instance of "${driver}" network is allowed`);
  }
  const options = { ...req.Options };
  const labels = { ...req.Labels };
  const configs = req.IPAM.Config;
  if (configs.length > 1) throw new BadRequest('berth supports one IPv4 subnet per network');
  const cfg0 = configs[0] ?? { Subnet: undefined, Gateway: undefined, IPRange: undefined };
  if (!cfg0.Subnet && (cfg0.Gateway || cfg0.IPRange)) {
    throw new BadRequest('--gateway and --ip-range need --subnet');
  }

  const id = newNetworkId();
  const taken: Prefix[] = Object.values(ctx.state.networks).flatMap((n) => (n.subnet ? [parseCidr(n.subnet)] : []));
  let subnet: Cidr;
  if (cfg0.Subnet) {
    const s = parseCidr(cfg0.Subnet);
    const clash = Object.values(ctx.state.networks).find((n) => n.subnet && overlapsText(n.subnet, s));
    if (clash) throw new Conflict(`Pool overlaps with other one on this address space: ${cfg0.Subnet} overlaps network ${clash.name} (${clash.subnet})`);
    subnet = cfg0.Subnet;
  } else {
    const routes = (await listRoutes()).flatMap((r) => (/^[0-9.]+(\/\d+)?$/.test(r) ? [parseCidr(r.includes('/') ? r : `${r}/32`)] : []));
    subnet = nextFreeSubnet(ctx.cfg.pools, [...taken, ...routes]);
  }
  const plan = planSubnet(subnet, cfg0.Gateway, cfg0.IPRange);
  const gateway = driver === 'bridge' ? (cfg0.Gateway ?? defaultGateway(plan)) : undefined;

  let bridge: IfName | undefined;
  if (driver === 'bridge') {
    bridge = options[OPT_BRIDGE_NAME] ? parseIfName(options[OPT_BRIDGE_NAME]) : bridgeNameFor(id);
    if (Object.values(ctx.state.networks).some((n) => n.bridge === bridge)) {
      throw new Conflict(`bridge ${bridge} is already used by another network`);
    }
    if (await linkExists(bridge)) throw new Conflict(`an interface named ${bridge} already exists on the host; choose another ${OPT_BRIDGE_NAME}`);
  } else if (options[OPT_BRIDGE_NAME]) {
    throw new BadRequest(`option ${OPT_BRIDGE_NAME} applies to bridge networks only`);
  }
  const mtuText = options[OPT_MTU];
  const mtu = mtuText === undefined ? ctx.cfg.mtu : Number(mtuText);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new BadRequest(`invalid value "${mtuText}" for option ${OPT_MTU}: use a number from 68 to 65535`);
  const hostBinding = parseIpv4(hostBindingOf(options, ctx.cfg.defaultBindIp), `option ${OPT_HOST_BINDING}`);

  return {
    id,
    name,
    driver,
    created: new Date().toISOString(),
    builtin: false,
    internal: req.Internal,
    bridge,
    subnet,
    gateway,
    ipRange: cfg0.IPRange,
    userSubnet: Boolean(cfg0.Subnet),
    options,
    labels,
    icc: boolOption(options, OPT_ICC, true),
    masquerade: boolOption(options, OPT_MASQ, ctx.cfg.ipMasq),
    mtu,
    hostBindingIpv4: hostBinding,
    dns: true,
  };
}

function overlapsText(a: string, b: Prefix): boolean {
  const p = parseCidr(a);
  const lastA = p.base + 2 ** (32 - p.len) - 1;
  const lastB = b.base + 2 ** (32 - b.len) - 1;
  return p.base <= lastB && b.base <= lastA;
}

export async function createBridge(net: NetworkRecord): Promise<void> {
  if (!net.bridge || !net.subnet || !net.gateway) return;
  const len = parseCidr(net.subnet).len;
  // An explicit MAC: otherwise the kernel gives the bridge the lowest MAC of its ports, which
  // changes as sandboxes come and go, and sandboxes' ARP entries for the gateway then point at
  // a veth: traffic to the gateway (berth's DNS, host services) is lost for seconds.
  await ipBatch(bridgeCreateBatch(net.bridge, net.gateway, len, net.mtu, net.overlay?.bridgeMac ?? macFromIp(net.gateway)));
}

export async function createNetwork(ctx: Ctx, req: CreateNetworkInput): Promise<NetworkRecord> {
  return ctx.lock.run(async () => {
    if (req.Driver === 'overlay') {
      if (!ctx.overlay) throw new BerthError(503, 'This node is not part of a cluster: overlay networks need berthd --cluster-store etcd://HOST:PORT[,...] --advertise-addr IP.');
      return ctx.overlay.createNetwork(req);
    }
    const net = await planNetwork(ctx, req);
    // Intent first: the bridge's name is on disk before the bridge exists, so a crash from here
    // on cannot leave a bridge (a custom -o com.docker.network.bridge.name one included) that
    // no record names; the next start removes both (reconcile: finishPendingNetworks).
    net.pending = 'create';
    ctx.state.networks[net.id] = net;
    try {
      await ctx.persist(net);
      await createBridge(net);
      await ctx.follow();
      delete net.pending;
      await ctx.persist(net);
    } catch (err) {
      delete ctx.state.networks[net.id];
      if (net.bridge) await deleteLink(net.bridge);
      await ctx.follow().catch(() => undefined);
      await ctx.persist(net).catch((e: Error) => ctx.log('error', `store: forgetting network ${net.name}: ${e.message}`));
      throw err;
    }
    ctx.log('info', `network ${net.name} created (${net.driver} ${net.subnet ?? ''} ${net.bridge ?? ''})`);
    return net;
  });
}

export function activeEndpoints(ctx: Ctx, net: NetworkRecord): string[] {
  const services = Object.values(ctx.state.services ?? {})
    .filter((s) => s.spec.networks.includes(net.id as never))
    .map((s) => `service ${s.name}`);
  return [
    ...Object.values(ctx.state.sandboxes)
      .filter((s) => s.endpoints[net.id])
      .map((s) => s.name),
    ...services,
  ];
}

async function removeLocked(ctx: Ctx, ref: string): Promise<NetworkRecord> {
  const net = ctx.network(ref);
  if (net.builtin) throw new BerthError(403, `${net.name} is a pre-defined network and cannot be removed`);
  const users = activeEndpoints(ctx, net);
  if (users.length) {
    throw new BerthError(403, `error while removing network: network ${net.name} id ${net.id} has active endpoints (${users.join(', ')})`);
  }
  if (net.overlay) {
    if (!ctx.overlay) throw new BerthError(503, `network ${net.name} is an overlay network: removing it needs the cluster store (berthd --cluster-store)`);
    await ctx.overlay.removeNetwork(net);
    return net;
  }
  // Intent first, as for create: a crash after this is finished at the next start.
  net.pending = 'remove';
  await ctx.persist(net);
  if (net.bridge) await deleteLink(net.bridge);
  delete ctx.state.networks[net.id];
  await ctx.persist(net);
  await ctx.follow();
  ctx.log('info', `network ${net.name} removed`);
  return net;
}

export async function removeNetwork(ctx: Ctx, ref: string): Promise<void> {
  await ctx.lock.run(() => removeLocked(ctx, ref));
}

export async function pruneNetworks(ctx: Ctx): Promise<string[]> {
  return ctx.lock.run(async () => {
    const removed: string[] = [];
    for (const net of Object.values(ctx.state.networks)) {
      if (net.builtin || activeEndpoints(ctx, net).length) continue;
      // Docker's prune also keeps networks that stopped containers still refer to.
      if (Object.values(ctx.state.sandboxes).some((s) => s.config.networks.some((n) => n.networkId === net.id))) continue;
      await removeLocked(ctx, net.id);
      removed.push(net.name);
    }
    return removed;
  });
}

/** bridge, host and none exist from the first start; the default bridge follows berthd's flags. */
export function ensureBuiltins(ctx: Ctx): void {
  const nets = Object.values(ctx.state.networks);
  const bip = parseCidr(ctx.cfg.bip, '--bip');
  const gw = parseIpv4(ctx.cfg.bip.split('/')[0]!, '--bip');
  const subnet = formatCidr(bip);
  const existing = nets.find((n) => n.builtin && n.name === 'bridge');
  const base: NetworkRecord = existing ?? {
    id: newNetworkId(),
    name: 'bridge',
    driver: 'bridge',
    created: new Date().toISOString(),
    builtin: true,
    internal: false,
    userSubnet: false,
    labels: {},
    options: {},
    icc: true,
    masquerade: true,
    mtu: ctx.cfg.mtu,
    hostBindingIpv4: ANY_IPV4,
    dns: false,
  };
  const bridge: NetworkRecord = {
    ...base,
    bridge: DEFAULT_BRIDGE,
    subnet,
    gateway: gw,
    icc: ctx.cfg.icc,
    masquerade: ctx.cfg.ipMasq,
    mtu: ctx.cfg.mtu,
    hostBindingIpv4: ctx.cfg.defaultBindIp,
    options: {
      'com.docker.network.bridge.default_bridge': 'true',
      [OPT_ICC]: String(ctx.cfg.icc),
      [OPT_MASQ]: String(ctx.cfg.ipMasq),
      [OPT_HOST_BINDING]: ctx.cfg.defaultBindIp,
      [OPT_BRIDGE_NAME]: DEFAULT_BRIDGE,
      [OPT_MTU]: String(ctx.cfg.mtu),
    },
  };
  ctx.state.networks[bridge.id] = bridge;
  ctx.touch(bridge);
  // A user network without the option follows berthd's current --default-bind-ip.
  for (const n of Object.values(ctx.state.networks)) {
    if (!n.builtin) n.hostBindingIpv4 = hostBindingOf(n.options, ctx.cfg.defaultBindIp);
    ctx.touch(n);
  }
  for (const [name, driver] of [['host', 'host'], ['none', 'null']] as const) {
    if (nets.some((n) => n.builtin && n.name === name)) continue;
    const id = newNetworkId();
    ctx.state.networks[id] = {
      id, name, driver, created: new Date().toISOString(), builtin: true, internal: false, userSubnet: false,
      options: {}, labels: {}, icc: true, masquerade: false, mtu: ctx.cfg.mtu, hostBindingIpv4: ANY_IPV4, dns: false,
    };
    ctx.touch(ctx.state.networks[id]!);
  }
}

/** Makes sure every bridge network has its bridge, with its gateway address, up. */
export async function ensureBridges(ctx: Ctx): Promise<void> {
  for (const net of Object.values(ctx.state.networks)) {
    if (net.driver !== 'bridge' || !net.bridge) continue;
    if (!(await linkExists(net.bridge))) {
      ctx.log('info', `creating missing bridge ${net.bridge} for network ${net.name}`);
      await createBridge(net);
    } else {
      // Present: make sure it carries the gateway and is up (both are idempotent in effect).
      const len = parseCidr(net.subnet!).len;
      await ipBatch(bridgeRepairBatch(net.bridge, net.gateway!, len));
    }
  }
}
