// Host services: a service on the host (usually on its loopback) made reachable from every sandbox
// at a link-local address under a readable name (berthd --host-service, scenario S21). Pure.
//
//   NAME=169.254.X.Y:PORT->[HOSTIP:]HOSTPORT[/tcp|/udp]
//   consul.local=169.254.32.1:80->8500            (HOSTIP defaults to 127.0.0.1, protocol to tcp)
import { BadRequest } from './errors.js';
import { ipv4InCidr, isIpv4 } from './ip-literal.js';
import type { DomainName, Ipv4, PortProto } from './types.js';

export interface HostService {
  /** The name sandboxes use: an /etc/hosts entry and a DNS A record. */
  name: DomainName;
  /** The link-local address sandboxes connect to. */
  ip: Ipv4;
  port: number;
  /** Where the service listens on the host. */
  hostIp: Ipv4;
  hostPort: number;
  proto: PortProto;
}

export const LINK_LOCAL = '169.254.0.0/16';

const NAME_RE = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const SPEC_RE = /^([^=]+)=([0-9.]+):(\d{1,5})->(?:([0-9.]+):)?(\d{1,5})(?:\/(tcp|udp))?$/;

function port(text: string, what: string, spec: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new BadRequest(`invalid host service "${spec}": ${what} ${text} is not a port number (1-65535)`);
  }
  return n;
}

export function parseHostService(spec: string): HostService {
  const m = SPEC_RE.exec(spec.trim());
  if (!m) {
    throw new BadRequest(
      `invalid host service "${spec}": expected NAME=169.254.X.Y:PORT->[HOSTIP:]HOSTPORT[/tcp|/udp], e.g. consul.local=169.254.32.1:80->8500`,
    );
  }
  const [, name, ip, portText, hostIpText, hostPortText, protoText] = m as unknown as [
    string, string, string, string, string | undefined, string, string | undefined,
  ];
  if (!NAME_RE.test(name)) {
    throw new BadRequest(`invalid host service "${spec}": name "${name}" is not a valid DNS name`);
  }
  if (!isIpv4(ip)) throw new BadRequest(`invalid host service "${spec}": ${ip} is not an IPv4 address`);
  if (!ipv4InCidr(ip, LINK_LOCAL)) {
    throw new BadRequest(
      `invalid host service "${spec}": ${ip} is not a link-local address; use one in ${LINK_LOCAL} (for example 169.254.32.1), which sandboxes reach only through the host`,
    );
  }
  // RFC 3927 reserves the first and last /24 of 169.254.0.0/16.
  if (ipv4InCidr(ip, '169.254.0.0/24') || ipv4InCidr(ip, '169.254.255.0/24')) {
    throw new BadRequest(`invalid host service "${spec}": ${ip} is in a reserved part of ${LINK_LOCAL}; use 169.254.1.0 to 169.254.254.255`);
  }
  const hostIp = hostIpText ?? '127.0.0.1';
  if (!isIpv4(hostIp)) throw new BadRequest(`invalid host service "${spec}": ${hostIp} is not an IPv4 address`);
  return {
    name: name.toLowerCase() as DomainName,
    ip: ip as Ipv4,
    port: port(portText, 'port', spec),
    hostIp: hostIp as Ipv4,
    hostPort: port(hostPortText, 'host port', spec),
    proto: (protoText ?? 'tcp') as PortProto,
  };
}

/** Parse all --host-service flags; names and (address, port, protocol) must be unique. */
export function parseHostServices(specs: readonly string[]): HostService[] {
  const out = specs.map(parseHostService);
  const ipOfName = new Map<string, string>();
  const ends = new Set<string>();
  for (const s of out) {
    const end = `${s.ip}:${s.port}/${s.proto}`;
    if (ends.has(end)) throw new BadRequest(`host service address ${end} is used twice`);
    ends.add(end);
    // One name may serve several ports on the same address, never two addresses.
    const prior = ipOfName.get(s.name);
    if (prior !== undefined && prior !== s.ip) {
      throw new BadRequest(`host service name ${s.name} is given two addresses (${prior} and ${s.ip})`);
    }
    ipOfName.set(s.name, s.ip);
  }
  return out;
}

export function formatHostService(s: HostService): string {
  return `${s.name}=${s.ip}:${s.port}->${s.hostIp}:${s.hostPort}/${s.proto}`;
}
