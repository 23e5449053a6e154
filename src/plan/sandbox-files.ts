// The files a sandbox sees as /etc/hosts, /etc/resolv.conf and /etc/hostname, derived from state. Pure.
//
// Formats follow Docker (docker-oracle.md §3 a, b, d, i, j, k):
//   hosts:       6 standard lines, --add-host entries in CLI order (host-gateway -> the network's
//                gateway), link entries "IP alias hostname [name]" (default bridge only), host
//                services "IP name", then the sandbox's own line(s) "IP hostname" last
//                (none: no own line; host: a copy of the host's file unless --add-host is given;
//                container:X: X's files).
//   resolv.conf: on a DNS-enabled network "search ..." / "nameserver <gateway>" / "options ... ndots:0";
//                otherwise the host's file without loopback resolvers, or --dns/--dns-search/--dns-option.
//   hostname:    the hostname and a newline.
import { validateDnsOption } from '../model/dns-options.js';
import type { BerthState, DomainName, EndpointRecord, IpAddress, Ipv4, NetworkRecord, SandboxRecord } from '../model/types.js';
import { shortId } from '../model/ids.js';
import { parseExtraHost, resolveExtraHost, type ExtraHost } from '../model/extra-hosts.js';
import type { HostService } from '../model/host-service.js';
import { linkEnv } from '../model/link-env.js';
import { buildResolvConf, filterHostResolvConf, isLoopbackResolver, parseResolvConf, DEFAULT_RESOLVERS } from '../model/resolv-conf.js';

export { filterHostResolvConf } from '../model/resolv-conf.js';

export interface HostFacts {
  /** Text of the resolv.conf berthd uses for upstream resolvers (see dns/upstreams.ts: HostResolvers.text()). */
  resolvConf: string;
  /** The host's hostname and /etc/hosts, used by --network host sandboxes. */
  hostHostname: string;
  hostHosts: string;
  /** berthd --host-service entries: an "IP name" line each in every bridged sandbox's /etc/hosts. */
  hostServices?: readonly HostService[];
}

export interface SandboxFiles {
  hosts: string;
  resolvConf: string;
  hostname: string;
}

const STANDARD_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/** Docker's default bridge: the builtin bridge-driver network. */
export function defaultBridge(state: BerthState): NetworkRecord | undefined {
  return Object.values(state.networks).find((n) => n.builtin && n.driver === 'bridge');
}

function ifIndex(ep: EndpointRecord): number {
  const m = /(\d+)$/.exec(ep.ifName);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

/** A sandbox's endpoints in interface order (eth0, eth1, ...). */
export function orderedEndpoints(sb: SandboxRecord): EndpointRecord[] {
  return Object.values(sb.endpoints).sort((a, b) => ifIndex(a) - ifIndex(b) || a.ifName.localeCompare(b.ifName));
}

/** The hostname a sandbox gets: --hostname, else its short id (as Docker). */
/** Embedded DNS answers names without dots itself: resolvers must not try the search list first. */
const NDOTS_0 = validateDnsOption('ndots:0');

export function sandboxHostname(sb: SandboxRecord): DomainName {
  // The short id is 12 hex digits: a valid name by construction.
  return sb.config.hostname || (shortId(sb.id) as DomainName);
}

/** Find the sandbox a `container:X` mode refers to (id, name or unique id prefix). */
export function findSandbox(state: BerthState, ref: string): SandboxRecord | undefined {
  const direct = state.sandboxes[ref];
  if (direct) return direct;
  const all = Object.values(state.sandboxes);
  const byName = all.find((s) => s.name === ref.replace(/^\//, ''));
  if (byName) return byName;
  const byPrefix = ref ? all.filter((s) => s.id.startsWith(ref)) : [];
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

/**
 * The address of berth's embedded DNS server for this sandbox: the gateway of its first
 * DNS-enabled network (in interface order), or undefined when it has none (default bridge, none, host).
 */
export function resolverAddress(state: BerthState, sb: SandboxRecord): Ipv4 | undefined {
  for (const ep of orderedEndpoints(sb)) {
    const net = state.networks[ep.networkId];
    if (net?.dns && net.gateway) return net.gateway;
  }
  return undefined;
}

/** The gateway `host-gateway` stands for: the first network's gateway, else the default bridge's. */
function hostGateway(state: BerthState, sb: SandboxRecord): Ipv4 | undefined {
  for (const ep of orderedEndpoints(sb)) {
    const gw = state.networks[ep.networkId]?.gateway ?? ep.gateway;
    if (gw) return gw;
  }
  return defaultBridge(state)?.gateway;
}

function hostsLine(ip: Ipv4 | IpAddress, names: readonly DomainName[]): string {
  return `${ip}\t${names.join(' ')}`;
}

/** "fqdn short" when the hostname has a dot, as Docker's etchosts.Build. */
function ownNames(hostname: DomainName): DomainName[] {
  const dot = hostname.indexOf('.');
  return dot > 0 ? [hostname, hostname.slice(0, dot) as DomainName] : [hostname];
}

function extraHostLines(state: BerthState, sb: SandboxRecord): string[] {
  const gw = hostGateway(state, sb);
  const out: string[] = [];
  for (const raw of sb.config.extraHosts) {
    let h: ExtraHost;
    try {
      h = parseExtraHost(raw);
    } catch {
      continue; // validated at create (parseExtraHosts); a bad record must not stop the file being written
    }
    const ip = resolveExtraHost(h, gw);
    if (ip) out.push(hostsLine(ip, [h.name]));
  }
  return out;
}

/** Link entries, only for a sandbox on the default bridge: "IP alias hostname [name]". */
function linkLines(state: BerthState, sb: SandboxRecord): string[] {
  const bridge = defaultBridge(state);
  if (!bridge || !sb.endpoints[bridge.id]) return [];
  const out: string[] = [];
  for (const link of sb.config.links) {
    const target = state.sandboxes[link.targetId];
    const ip = target?.endpoints[bridge.id]?.ip;
    if (!target || !ip) continue;
    const names = [link.alias, sandboxHostname(target), ...(link.alias !== target.name ? [target.name] : [])];
    out.push(hostsLine(ip, names));
  }
  return out;
}

function hostServiceLines(services: readonly HostService[] | undefined): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const s of services ?? []) {
    const line = hostsLine(s.ip, [s.name]);
    if (seen.has(line)) continue;
    seen.add(line);
    out.push(line);
  }
  return out;
}

export function sandboxHosts(state: BerthState, sb: SandboxRecord, host: HostFacts): string {
  const mode = sb.config.networkMode;
  if (mode === 'host') {
    if (sb.config.extraHosts.length === 0) return host.hostHosts;
    return [...STANDARD_HOSTS, ...extraHostLines(state, sb)].join('\n') + '\n';
  }
  const lines = [...STANDARD_HOSTS, ...extraHostLines(state, sb)];
  if (mode === 'none') return lines.join('\n') + '\n';
  lines.push(...linkLines(state, sb), ...hostServiceLines(host.hostServices));
  const names = ownNames(sandboxHostname(sb));
  for (const ep of orderedEndpoints(sb)) if (ep.ip) lines.push(hostsLine(ep.ip, names));
  return lines.join('\n') + '\n';
}

export function sandboxResolvConf(state: BerthState, sb: SandboxRecord, host: HostFacts): string {
  const c = sb.config;
  const hostRc = parseResolvConf(host.resolvConf);
  const search = c.dnsSearch.length > 0 ? c.dnsSearch : hostRc.search;
  const options = c.dnsOptions.length > 0 ? c.dnsOptions : hostRc.options;
  const resolver = sb.config.networkMode === 'host' ? undefined : resolverAddress(state, sb);
  if (resolver) {
    // Embedded DNS: berth's resolver only; the real upstreams (--dns or the host's) are kept by berthd.
    const opts = options.some((o) => o.startsWith('ndots:')) ? options : [...options, NDOTS_0];
    return buildResolvConf([resolver], search, opts);
  }
  const custom = c.dns.length > 0 || c.dnsSearch.length > 0 || c.dnsOptions.length > 0;
  if (sb.config.networkMode === 'host') {
    // The host's own namespace: loopback resolvers work, so the file is copied as is.
    return custom ? buildResolvConf(c.dns.length > 0 ? c.dns : hostRc.nameservers, search, options) : host.resolvConf;
  }
  if (!custom) return filterHostResolvConf(host.resolvConf);
  let servers = c.dns.length > 0 ? c.dns : hostRc.nameservers.filter((n) => !isLoopbackResolver(n) && !n.includes(':'));
  if (servers.length === 0) servers = DEFAULT_RESOLVERS;
  return buildResolvConf(servers, search, options);
}

export function sandboxFiles(state: BerthState, sb: SandboxRecord, host: HostFacts): SandboxFiles {
  return filesOf(state, sb, host, 0);
}

function filesOf(state: BerthState, sb: SandboxRecord, host: HostFacts, depth: number): SandboxFiles {
  const mode = sb.config.networkMode;
  if (mode.startsWith('container:')) {
    const target = findSandbox(state, mode.slice('container:'.length));
    if (target && target.id !== sb.id && depth < 8) return filesOf(state, target, host, depth + 1);
    // The target is gone: nothing to share; give a sandbox without networking its files.
    return filesOf(state, { ...sb, config: { ...sb.config, networkMode: 'none' } }, host, depth + 1);
  }
  const hostname = mode === 'host' ? host.hostHostname.trim() : sandboxHostname(sb);
  return {
    hosts: sandboxHosts(state, sb, host),
    resolvConf: sandboxResolvConf(state, sb, host),
    hostname: hostname + '\n',
  };
}

/**
 * Sandboxes whose /etc/hosts shows `target` through a --link: rewrite their hosts file when the
 * target starts, stops or changes address (Docker rewrites them; the env vars stay as they were).
 */
export function sandboxesLinkingTo(state: BerthState, targetId: string): SandboxRecord[] {
  return Object.values(state.sandboxes).filter((s) => s.id !== targetId && s.config.links.some((l) => l.targetId === targetId));
}

/**
 * The environment variables a sandbox gets from its --link flags (default bridge only, as Docker:
 * on user networks a link is a DNS alias and gives no variables). Targets not on the bridge are skipped.
 */
export function sandboxLinkEnv(state: BerthState, sb: SandboxRecord): string[] {
  const bridge = defaultBridge(state);
  if (!bridge || !sb.endpoints[bridge.id]) return [];
  const env: string[] = [];
  for (const link of sb.config.links) {
    const target = state.sandboxes[link.targetId];
    const ip = target?.endpoints[bridge.id]?.ip;
    if (!target || !ip) continue;
    env.push(
      ...linkEnv({ parentName: sb.name, alias: link.alias, childIp: ip, childPorts: target.config.exposedPorts, childEnv: target.config.env }),
    );
  }
  return env;
}
