// Connecting a sandbox to a network, and disconnecting it, while it runs or not.
//
// Published ports follow the network they are published through (the first non-internal bridge
// the sandbox asked for, see publishNetwork). As in Docker, a running sandbox that gains that
// network (`run --network internal-net -p 80:80`, then `network connect bridge`) gets its ports
// published at that moment, one that loses it has them moved to the next such network or
// unpublished, and `berth port` / inspect show what is published now.
import { BadRequest, BerthError, Conflict } from '../model/errors.js';
import { onPublishingEndpoint } from './publish-error.js';
import { publishNetwork } from '../plan/firewall-view.js';
import type { NetworkId, NetworkRecord, PortBinding, SandboxRecord } from '../model/types.js';
import type { Ctx } from './context.js';
import type { ConnectInput } from './schema/network-schemas.js';
import { attachEndpoint, detachEndpoint, IP_ONLY_WITH_USER_SUBNET, reserveEndpointClaimed } from './sandbox-net.js';

const SHARED_NS = 'container sharing network namespace with another container or host cannot be connected to any other network';

export async function connect(ctx: Ctx, netRef: string, req: ConnectInput): Promise<void> {
  await ctx.lock.run(async () => {
    const net = ctx.network(netRef);
    const sb = ctx.sandbox(req.Container);
    const mode = sb.config.networkMode;
    if (mode === 'host' || mode.startsWith('container:')) throw new BerthError(403, SHARED_NS);
    if (mode === 'none') throw new BerthError(403, 'container cannot be connected to multiple networks with one of the networks in private (none) mode');
    if (net.driver === 'host' || net.driver === 'null') throw new BerthError(403, `container cannot be connected to the ${net.name} network: use --network ${net.name} at run`);
    if (sb.config.networks.some((n) => n.networkId === net.id)) {
      throw new BerthError(403, `endpoint with name ${sb.name} already exists in network ${net.name}`);
    }
    const ip = req.EndpointConfig.IPAMConfig.IPv4Address;
    if (ip && !net.userSubnet) throw new BadRequest(IP_ONLY_WITH_USER_SUBNET);
    const aliases = req.EndpointConfig.Aliases;
    if (aliases.length && net.builtin) throw new BadRequest('network-scoped alias is supported only for containers in user defined networks');
    const entry = { networkId: net.id as NetworkId, ip, aliases };
    if (sb.state.status === 'running') {
      const before = publishNetwork(ctx.state, sb);
      const oldPorts = sb.ports;
      const ep = await reserveEndpointClaimed(ctx, sb, net, ip, aliases);
      ep.links = net.builtin ? [] : sb.config.links.map((l) => `${l.targetName}:${l.alias}`);
      sb.config.networks.push(entry);
      // Intent first: the endpoint (its address taken) is on disk, marked pending, before its
      // veth exists; a crash from here on is repaired at the next start (reconcile).
      ep.pending = 'attach';
      try {
        // Ports first: a port taken meanwhile refuses the connect before the kernel is touched.
        const ports = await portsAfterChange(ctx, sb, before);
        if (ports) sb.ports = ports;
        await ctx.persist(sb);
        await attachEndpoint(ctx, sb, net, ep);
        await ctx.follow();
        delete ep.pending;
      } catch (err) {
        sb.ports = oldPorts;
        delete sb.endpoints[net.id];
        sb.config.networks.pop();
        await detachEndpoint(ctx, sb, net, ep).catch(() => undefined);
        await ctx.follow().catch(() => undefined);
        await ctx.persist(sb).catch((e: Error) => ctx.log('error', `store: undoing connect of ${sb.name}: ${e.message}`));
        throw err;
      }
    } else {
      sb.config.networks.push(entry);
    }
    await ctx.persist(sb);
    ctx.log('info', `sandbox ${sb.name} connected to ${net.name}`);
  });
}

export async function disconnect(ctx: Ctx, netRef: string, container: string): Promise<void> {
  await ctx.lock.run(async () => {
    const net = ctx.network(netRef);
    const sb = ctx.sandbox(container);
    const idx = sb.config.networks.findIndex((n) => n.networkId === net.id);
    if (idx < 0) throw new Conflict(`container ${sb.name} is not connected to network ${net.name}`);
    const before = publishNetwork(ctx.state, sb);
    const ep = sb.endpoints[net.id];
    // Intent first: the endpoint leaves the record (its address free again) before its veth
    // goes; a crash in between leaves a veth no record owns, removed at the next start.
    delete sb.endpoints[net.id];
    sb.config.networks.splice(idx, 1);
    const first = sb.config.networks[0];
    if (idx === 0) sb.config.networkMode = first ? (ctx.state.networks[first.networkId]?.name ?? 'none') : 'none';
    if (sb.state.status === 'running') {
      // The endpoint is leaving whatever happens: a port that cannot move to the next network is
      // unpublished (with a warning) rather than failing the disconnect.
      try {
        const ports = await portsAfterChange(ctx, sb, before);
        if (ports) sb.ports = ports;
      } catch (err) {
        ctx.log('warn', `sandbox ${sb.name}: published ports dropped on disconnect from ${net.name}: ${(err as Error).message}`);
        sb.ports = [];
      }
    }
    await ctx.persist(sb);
    if (ep) await detachEndpoint(ctx, sb, net, ep);
    await ctx.follow();
    ctx.log('info', `sandbox ${sb.name} disconnected from ${net.name}`);
  });
}

/**
 * The host ports of a running sandbox after its networks changed, or undefined when the network
 * its ports are published through is the same as `before` (nothing to do). Dynamic host ports
 * are kept where still free; none are published when only internal networks are left.
 */
async function portsAfterChange(ctx: Ctx, sb: SandboxRecord, before: NetworkRecord | undefined): Promise<PortBinding[] | undefined> {
  const after = publishNetwork(ctx.state, sb);
  if (after?.id === before?.id || !ctx.ports) return undefined;
  if (!after) {
    if (sb.ports.length) ctx.log('warn', `sandbox ${sb.name}: published ports are unpublished: it is connected only to internal networks`);
    return [];
  }
  const ports = ctx.ports;
  return onPublishingEndpoint(sb, sb.endpoints[after.id], () => ports.allocate(ctx.state, sb, sb.ports));
}
