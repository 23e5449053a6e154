// IPv4 arithmetic on unsigned 32-bit numbers. Parsing goes through ipaddr.js so that every
// address a user types is validated by a library made for it.
import ipaddr from 'ipaddr.js';
import { BadRequest } from '../model/errors.js';
import type { Cidr, Ipv4 } from '../model/types.js';

export interface Prefix {
  /** Network address as a number (host bits zero). */
  base: number;
  len: number;
}

export function parseIp(text: string, what = 'IP address'): number {
  if (!ipaddr.IPv4.isValidFourPartDecimal(text)) throw new BadRequest(`invalid ${what}: "${text}" is not an IPv4 address`);
  const bytes = ipaddr.IPv4.parse(text).octets;
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

/** Made from a number, so a valid address by construction. */
export function formatIp(n: number): Ipv4 {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.') as Ipv4;
}

export function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Parses "a.b.c.d/len". With strict, host bits must be zero (as Docker requires for --subnet). */
export function parseCidr(text: string, what = 'subnet', strict = false): Prefix {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32) throw new BadRequest(`invalid ${what}: "${text}" is not an IPv4 CIDR such as 172.20.0.0/16`);
  const addr = parseIp(m[1]!, what);
  const len = Number(m[2]);
  const base = (addr & maskOf(len)) >>> 0;
  if (strict && base !== addr) {
    throw new BadRequest(`invalid ${what} ${text}: it has host bits set; did you mean ${formatIp(base)}/${len}?`);
  }
  return { base, len };
}

export function formatCidr(p: Prefix): Cidr {
  return `${formatIp(p.base)}/${p.len}` as Cidr;
}

export function size(p: Prefix): number {
  return 2 ** (32 - p.len);
}

export function last(p: Prefix): number {
  return (p.base + size(p) - 1) >>> 0;
}

export function contains(p: Prefix, ip: number): boolean {
  return ((ip & maskOf(p.len)) >>> 0) === p.base;
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  return a.base <= last(b) && b.base <= last(a);
}

/** True when b lies entirely inside a. */
export function within(a: Prefix, b: Prefix): boolean {
  return contains(a, b.base) && contains(a, last(b));
}
