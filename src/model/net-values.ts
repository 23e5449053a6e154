// Parse functions for the network values that reach the kernel and sandbox files: IPv4
// addresses, subnets, interface names. They are the only producers of the Ipv4, Cidr and
// IfName types (see types.ts), so an unchecked string cannot reach an ip or nft script. Pure.
import { BadRequest } from './errors.js';
import { isIpv4 } from './ip-literal.js';
import type { Cidr, IfName, Ipv4 } from './types.js';

/** The IPv4 wildcard address: "every address" for a published port. */
export const ANY_IPV4 = '0.0.0.0' as Ipv4;

/** A dotted-quad IPv4 address (no leading zeros, no short forms). */
export function parseIpv4(text: string, what = 'IP address'): Ipv4 {
  if (!isIpv4(text)) throw new BadRequest(`invalid ${what}: "${text}" is not an IPv4 address`);
  return text as Ipv4;
}

/** "a.b.c.d/len", canonical; with strict, host bits must be zero (as Docker requires for --subnet). */
export function parseCidrText(text: string, what = 'subnet', strict = false): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m || !isIpv4(m[1]!) || Number(m[2]) > 32) throw new BadRequest(`invalid ${what}: "${text}" is not an IPv4 CIDR such as 172.20.0.0/16`);
  const len = Number(m[2]);
  const o = m[1]!.split('.').map(Number);
  const addr = ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const base = (addr & mask) >>> 0;
  const baseText = [base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.');
  if (strict && base !== addr) {
    throw new BadRequest(`invalid ${what} ${text}: it has host bits set; did you mean ${baseText}/${len}?`);
  }
  return `${strict ? baseText : m[1]!}/${len}` as Cidr;
}

/** Interface names berth creates or accepts from users (the bridge name option): IFNAMSIZ, a safe alphabet. */
const IFNAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;

export function parseIfName(name: string): IfName {
  if (!IFNAME_RE.test(name)) {
    throw new BadRequest(`invalid interface name "${name}": at most 15 characters of [a-zA-Z0-9_.-]`);
  }
  return name as IfName;
}
