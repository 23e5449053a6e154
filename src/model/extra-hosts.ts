// --add-host NAME:IP (Docker's format; NAME=IP is accepted too, as newer Docker does).
// The special address `host-gateway` stands for the gateway of the sandbox's network. Pure.
import type { DomainName, IpAddress, Ipv4 } from './types.js';
import { BadRequest } from './errors.js';
import { parseIpLiteral } from './ip-literal.js';

export const HOST_GATEWAY = 'host-gateway' as const;

export interface ExtraHost {
  /** The name as given (Docker keeps it verbatim); no whitespace, control characters or '#'. */
  name: DomainName;
  /** A normalized IPv4/IPv6 address, or 'host-gateway'. */
  ip: IpAddress | typeof HOST_GATEWAY;
}

/** Go's %q for the strings users type: double-quoted with escapes. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** A name that cannot break an /etc/hosts line: no whitespace, no control characters, no '#'. */
const HOSTS_NAME_RE = /^[^\s#\u0000-\u001f\u007f]{1,253}$/;

/**
 * Parse one --add-host value. Throws BadRequest with Docker's messages:
 * `bad format for add-host: "bad"` and `invalid IP address in add-host: "x"`.
 */
export function parseExtraHost(val: string): ExtraHost {
  // Split on the first ':' (or '=' when it comes first): IPv6 addresses contain ':'.
  const colon = val.indexOf(':');
  const eq = val.indexOf('=');
  const sep = eq >= 0 && (colon < 0 || eq < colon) ? eq : colon;
  if (sep <= 0) throw new BadRequest(`bad format for add-host: ${goQuote(val)}`);
  const name = val.slice(0, sep);
  let addr = val.slice(sep + 1).trim();
  if (!HOSTS_NAME_RE.test(name)) throw new BadRequest(`bad format for add-host: ${goQuote(val)}`);
  if (addr === HOST_GATEWAY) return { name: name as DomainName, ip: HOST_GATEWAY };
  if (addr.startsWith('[') && addr.endsWith(']')) addr = addr.slice(1, -1);
  const parsed = parseIpLiteral(addr);
  if (!parsed) throw new BadRequest(`invalid IP address in add-host: ${goQuote(val.slice(sep + 1))}`);
  return { name: name as DomainName, ip: parsed.ip as IpAddress };
}

/** The canonical text of a parsed entry, NAME:IP (what berth records; parseExtraHost reads it back unchanged). */
export function formatExtraHost(h: ExtraHost): string {
  return `${h.name}:${h.ip}`;
}

/** Validate every --add-host value; returns them parsed, in order, duplicates kept (as Docker). */
export function parseExtraHosts(vals: readonly string[]): ExtraHost[] {
  return vals.map(parseExtraHost);
}

/** The /etc/hosts address for an extra host: `host-gateway` becomes the given gateway. */
export function resolveExtraHost(h: ExtraHost, hostGateway: Ipv4 | undefined): Ipv4 | IpAddress | undefined {
  return h.ip === HOST_GATEWAY ? hostGateway : h.ip;
}
