// Strict parsing of IP address literals users type (--dns, --add-host, host services). Pure.
// Stricter than ipaddr.js's isValid, which also takes "127.1", "0x7f000001" and "010.0.0.1" (octal!).
import ipaddr from 'ipaddr.js';

const V4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(s: string): boolean {
  return V4_RE.test(s);
}

/** An IPv4 or IPv6 literal in canonical text form, or undefined. IPv6 zones (fe80::1%eth0) are refused. */
export function parseIpLiteral(s: string): { ip: string; family: 4 | 6 } | undefined {
  if (V4_RE.test(s)) return { ip: s, family: 4 };
  if (s.includes(':') && !s.includes('%') && ipaddr.IPv6.isValid(s)) {
    const v6 = ipaddr.IPv6.parse(s);
    if (v6.isIPv4MappedAddress()) return { ip: v6.toIPv4Address().toString(), family: 4 };
    return { ip: v6.toRFC5952String(), family: 6 };
  }
  return undefined;
}

export function ipv4ToInt(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** True when ip (dotted IPv4) is inside cidr ("a.b.c.d/len"). */
export function ipv4InCidr(ip: string, cidr: string): boolean {
  const [base, lenText] = cidr.split('/');
  const len = Number(lenText);
  if (!base || !isIpv4(ip) || !isIpv4(base) || !(len >= 0 && len <= 32)) return false;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(base) & mask) >>> 0);
}
