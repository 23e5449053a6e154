// Turning a parsed create request (schema/container-schemas.ts) into a SandboxConfig: the checks
// that need state (networks, names, link targets) and the rootfs on disk. Nothing is changed here.
import { statSync } from 'node:fs';
import { BadRequest, Conflict, NotFound } from '../model/errors.js';
import { validateAlias } from '../model/names.js';
import type { LinkRecord, NetworkId, SandboxConfig } from '../model/types.js';
import { allocateAddress, planSubnet } from '../ipam/allocator.js';
import { formatExtraHost } from '../model/extra-hosts.js';
import type { Ctx } from './context.js';
import type { CreateSandboxInput } from './schema/container-schemas.js';
import { IP_ONLY_WITH_USER_SUBNET } from './sandbox-net.js';

export interface SpecResult {
  config: SandboxConfig;
  warnings: string[];
}

export function buildConfig(ctx: Ctx, name: string, req: CreateSandboxInput): SpecResult {
  const warnings: string[] = [];
  const hc = req.HostConfig;
  const cmd = req.Cmd;
  if (cmd.length === 0) throw new BadRequest('No command specified: give the command to run after --');
  const env = req.Env;
  let mode = hc.NetworkMode || 'bridge';
  if (mode === 'default') mode = 'bridge';
  const endpointsConfig = req.NetworkingConfig.EndpointsConfig;
  const { exposed, requests } = req.ports;
  const hostname = req.Hostname;
  const rootfs = req.Rootfs;
  if (rootfs) {
    let isDir = false;
    try {
      isDir = statSync(rootfs).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new BadRequest(`--rootfs ${rootfs} is not a directory`);
  }
  const extraHosts = hc.ExtraHosts;
  const dns = hc.Dns;

  const networks: SandboxConfig['networks'] = [];
  let networkMode = mode;
  if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
    const others = Object.keys(endpointsConfig).filter((n) => n !== mode);
    if (others.length) throw new BadRequest(`conflicting options: cannot attach both user-defined and non-user-defined network-modes`);
    if (mode.startsWith('container:')) {
      const target = ctx.sandbox(mode.slice('container:'.length));
      if (target.config.networkMode.startsWith('container:')) throw new BadRequest(`cannot join the network of ${target.name}: it shares another container's network itself`);
      networkMode = `container:${target.id}`;
      if (requests.length || hc.PublishAllPorts) throw new BadRequest('conflicting options: port publishing and the container type network mode.');
      if (hostname) throw new BadRequest('conflicting options: hostname and the network mode.');
      if (extraHosts.length) throw new BadRequest('conflicting options: custom host-to-IP mapping and the network mode.');
      if (dns.length) throw new BadRequest('conflicting options: dns and the network mode.');
    }
    if (mode === 'host' && (requests.length || hc.PublishAllPorts)) {
      warnings.push('Published ports are discarded when using host network mode');
      requests.length = 0;
    }
  } else {
    const names = [mode, ...Object.keys(endpointsConfig).filter((n) => n !== mode)];
    for (const ref of names) {
      const net = ctx.network(ref);
      if (net.driver === 'host' || net.driver === 'null') throw new BadRequest(`conflicting options: cannot attach both user-defined and non-user-defined network-modes`);
      if (networks.some((n) => n.networkId === net.id)) continue;
      const ec = endpointsConfig[ref] ?? endpointsConfig[net.name];
      const ip = ec?.IPAMConfig.IPv4Address;
      if (ip && !net.userSubnet) throw new BadRequest(IP_ONLY_WITH_USER_SUBNET);
      // An address outside the subnet (or its network, broadcast or gateway address) can never
      // work: refuse it now rather than leave a sandbox that fails at every start.
      if (ip && net.subnet) allocateAddress(planSubnet(net.subnet, net.gateway, net.ipRange), new Set(), ip);
      const aliases = ec?.Aliases ?? [];
      if (aliases.length && net.builtin) throw new BadRequest('network-scoped alias is supported only for containers in user defined networks');
      networks.push({ networkId: net.id as NetworkId, ip, aliases });
    }
    networkMode = ctx.state.networks[networks[0]!.networkId]!.name;
  }

  const links: LinkRecord[] = hc.Links.map((l) => {
    const [target = '', alias] = l.split(':');
    const t = (() => {
      try {
        return ctx.sandbox(target.replace(/^\//, ''));
      } catch {
        throw new NotFound(`could not get container for ${target}: No such container: ${target}`);
      }
    })();
    const a = validateAlias((alias ?? t.name).replace(/^.*\//, ''));
    return { targetId: t.id, targetName: t.name, alias: a };
  });
  if (links.length && !networks.length) throw new BadRequest('links are supported only on bridge networks');

  if (Object.values(ctx.state.sandboxes).some((s) => s.name === name)) {
    const other = Object.values(ctx.state.sandboxes).find((s) => s.name === name)!;
    throw new Conflict(`Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`);
  }
  return {
    warnings,
    config: {
      cmd,
      env,
      hostname,
      userHostname: Boolean(hostname),
      networkMode,
      networks,
      exposedPorts: exposed,
      portRequests: requests,
      publishAll: hc.PublishAllPorts && mode !== 'host',
      links,
      extraHosts: extraHosts.map(formatExtraHost),
      // daemon.json dns / dns-search (or berthd --dns) fill in for a sandbox that names none.
      dns: dns.length || mode.startsWith('container:') ? dns : ctx.cfg.dns,
      dnsSearch: hc.DnsSearch.length || mode.startsWith('container:') ? hc.DnsSearch : ctx.cfg.dnsSearch,
      dnsOptions: hc.DnsOptions,
      rootfs,
      autoRemove: hc.AutoRemove,
      ...(Object.keys(req.Labels).length ? { labels: req.Labels } : {}),
      ...(req.Healthcheck ? { healthcheck: req.Healthcheck } : {}),
    },
  };
}
