// Turning a create request (Docker's shape) into a validated SandboxConfig. Pure apart from
// reading state; nothing is changed here.
import { statSync } from 'node:fs';
import { BadRequest, Conflict, NotFound } from '../model/errors.js';
import { validateAlias, validateHostname, validateName } from '../model/names.js';
import type { ExposedPort, LinkRecord, NetworkId, PortProto, PortRequest, SandboxConfig } from '../model/types.js';
import { isIp } from '../ipam/ipv4.js';
import { allocateAddress, planSubnet } from '../ipam/allocator.js';
import { parseExtraHosts } from '../model/extra-hosts.js';
import { validateDnsSettings } from '../model/dns-options.js';
import { parsePortKey, parsePortRange } from '../model/port-spec.js';
import type { Ctx } from './context.js';
import { IP_ONLY_WITH_USER_SUBNET } from './sandbox-net.js';

export interface PortBindingSpec {
  HostIp?: string;
  HostPort?: string;
}

export interface CreateSandboxRequest {
  Cmd?: string[];
  Env?: string[];
  Hostname?: string;
  ExposedPorts?: Record<string, object>;
  HostConfig?: {
    NetworkMode?: string;
    PortBindings?: Record<string, PortBindingSpec[] | null>;
    PublishAllPorts?: boolean;
    Links?: string[];
    ExtraHosts?: string[];
    Dns?: string[];
    DnsSearch?: string[];
    DnsOptions?: string[];
    AutoRemove?: boolean;
  };
  NetworkingConfig?: {
    EndpointsConfig?: Record<string, { IPAMConfig?: { IPv4Address?: string } | null; Aliases?: string[] | null }>;
  };
  Rootfs?: string;
}

function parseHostPort(text: string | undefined, containerCount: number): { start: number; end: number } {
  if (!text) return { start: 0, end: 0 };
  let [start, end] = [0, 0];
  try {
    [start, end] = parsePortRange(text);
  } catch (err) {
    throw new BadRequest(`invalid host port "${text}": ${(err as Error).message}`);
  }
  if (start < 1) throw new BadRequest(`invalid host port "${text}": ports go from 1 to 65535`);
  if (!text.includes('-') && containerCount > 1) end = start + containerCount - 1;
  if (containerCount > 1 && end - start + 1 !== containerCount) {
    throw new BadRequest(`invalid ranges specified for container and host ports: ${text} does not match ${containerCount} container ports`);
  }
  return { start, end };
}

export function portRequestsOf(req: CreateSandboxRequest): { exposed: ExposedPort[]; requests: PortRequest[] } {
  const exposed = new Map<string, ExposedPort>();
  const add = (port: number, proto: PortProto) => exposed.set(`${port}/${proto}`, { port, proto });
  for (const key of Object.keys(req.ExposedPorts ?? {})) {
    const p = parsePortKey(key);
    for (let port = p.start; port <= p.end; port++) add(port, p.proto);
  }
  const requests: PortRequest[] = [];
  for (const [key, bindings] of Object.entries(req.HostConfig?.PortBindings ?? {})) {
    const c = parsePortKey(key);
    for (let port = c.start; port <= c.end; port++) add(port, c.proto);
    for (const b of bindings ?? [{}]) {
      const hostIp = b.HostIp ?? '';
      if (hostIp && !isIp(hostIp)) throw new BadRequest(`invalid host IP "${hostIp}" in port binding ${key}`);
      const h = parseHostPort(b.HostPort, c.end - c.start + 1);
      requests.push({ hostIp, hostPortStart: h.start, hostPortEnd: h.end, containerPortStart: c.start, containerPortEnd: c.end, proto: c.proto });
    }
  }
  return { exposed: [...exposed.values()].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto)), requests };
}

export interface SpecResult {
  config: SandboxConfig;
  warnings: string[];
}

export function buildConfig(ctx: Ctx, name: string, req: CreateSandboxRequest): SpecResult {
  const warnings: string[] = [];
  const hc = req.HostConfig ?? {};
  const cmd = req.Cmd ?? [];
  if (cmd.length === 0) throw new BadRequest('No command specified: give the command to run after --');
  const env = req.Env ?? [];
  for (const e of env) if (!/^[^=\s]+(=|$)/.test(e)) throw new BadRequest(`invalid environment variable "${e}": expected KEY=VALUE`);
  let mode = hc.NetworkMode || 'bridge';
  if (mode === 'default') mode = 'bridge';
  const endpointsConfig = req.NetworkingConfig?.EndpointsConfig ?? {};
  const { exposed, requests } = portRequestsOf(req);
  const hostname = req.Hostname ?? '';
  if (hostname) validateHostname(hostname);
  const rootfs = req.Rootfs ?? '';
  if (rootfs) {
    if (!rootfs.startsWith('/')) throw new BadRequest(`--rootfs must be an absolute path, got "${rootfs}"`);
    let isDir = false;
    try {
      isDir = statSync(rootfs).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new BadRequest(`--rootfs ${rootfs} is not a directory`);
  }
  const extraHosts = hc.ExtraHosts ?? [];
  parseExtraHosts(extraHosts);
  const dns = hc.Dns ?? [];
  validateDnsSettings({ dns, dnsSearch: hc.DnsSearch ?? [], dnsOptions: hc.DnsOptions ?? [] });

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
      const ec = endpointsConfig[ref] ?? endpointsConfig[net.name] ?? {};
      const ip = ec.IPAMConfig?.IPv4Address || undefined;
      if (ip && !net.userSubnet) throw new BadRequest(IP_ONLY_WITH_USER_SUBNET);
      // An address outside the subnet (or its network, broadcast or gateway address) can never
      // work: refuse it now rather than leave a sandbox that fails at every start.
      if (ip && net.subnet) allocateAddress(planSubnet(net.subnet, net.gateway, net.ipRange), new Set(), ip);
      const aliases = (ec.Aliases ?? []).map(validateAlias);
      if (aliases.length && net.builtin) throw new BadRequest('network-scoped alias is supported only for containers in user defined networks');
      networks.push({ networkId: net.id as NetworkId, ip, aliases });
    }
    networkMode = ctx.state.networks[networks[0]!.networkId]!.name;
  }

  const links: LinkRecord[] = (hc.Links ?? []).map((l) => {
    const [target = '', alias] = l.split(':');
    const t = (() => {
      try {
        return ctx.sandbox(target.replace(/^\//, ''));
      } catch {
        throw new NotFound(`could not get container for ${target}: No such container: ${target}`);
      }
    })();
    const a = (alias ?? t.name).replace(/^.*\//, '');
    validateAlias(a);
    return { targetId: t.id, targetName: t.name, alias: a };
  });
  if (links.length && !networks.length) throw new BadRequest('links are supported only on bridge networks');

  validateName('container', name);
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
      publishAll: Boolean(hc.PublishAllPorts) && mode !== 'host',
      links,
      extraHosts,
      dns,
      dnsSearch: hc.DnsSearch ?? [],
      dnsOptions: hc.DnsOptions ?? [],
      rootfs,
      autoRemove: hc.AutoRemove === true,
    },
  };
}
