// Validation of --dns, --dns-search and --dns-option, with Docker's messages. Pure.
import { BadRequest } from './errors.js';
import { parseIpLiteral } from './ip-literal.js';
import type { DnsOption, DomainName, IpAddress } from './types.js';

/** --dns: an IP address (Docker: "x is not an ip address"). Returns the canonical form. */
export function validateDnsServer(val: string): IpAddress {
  const parsed = parseIpLiteral(val.trim());
  if (!parsed) throw new BadRequest(`${val} is not an ip address`);
  return parsed.ip as IpAddress;
}

const ALPHA_RE = /[a-zA-Z]/;
const LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(${LABEL}(?:\\.${LABEL})*)\\.?$`);

/**
 * --dns-search: a domain, or "." meaning "no search list" (Docker's ValidateDNSSearch).
 * Returns the domain without a trailing dot.
 */
export function validateDnsSearch(val: string): DomainName | '.' {
  // Spaces only, as Docker's strings.Trim(val, " "): a newline is refused, not trimmed away.
  const v = val.replace(/^ +| +$/g, '');
  if (v === '.') return v;
  const m = DOMAIN_RE.exec(v);
  if (!ALPHA_RE.test(v) || !m || m[1]!.length >= 255 || m[1]!.split('.').some((l) => l.length > 63)) {
    throw new BadRequest(`${val} is not a valid domain`);
  }
  return m[1]! as DomainName;
}

/** resolv.conf options we know take a number. */
const NUMERIC_OPTIONS = new Set(['ndots', 'timeout', 'attempts']);

/**
 * --dns-option: one resolv.conf option token such as `ndots:2`, `timeout:1`, `rotate`, `edns0`.
 * Docker passes them through; berth refuses what would break the file (spaces, newlines) and bad numbers.
 */
export function validateDnsOption(val: string): DnsOption {
  if (!/^[a-zA-Z][a-zA-Z0-9_-]*(:[^\s#;]+)?$/.test(val)) {
    throw new BadRequest(`invalid DNS option "${val}": expected a resolv.conf option such as ndots:2, timeout:1 or rotate`);
  }
  const [key, value] = val.split(':', 2) as [string, string | undefined];
  if (value !== undefined && NUMERIC_OPTIONS.has(key) && !/^\d{1,3}$/.test(value)) {
    throw new BadRequest(`invalid number for ${key} option: ${value}`);
  }
  return val as DnsOption;
}

export interface DnsSettings<S = string, D = string, O = string> {
  dns: S[];
  dnsSearch: D[];
  dnsOptions: O[];
}

/** Validate the three flags together; returns normalized copies. */
export function validateDnsSettings(s: DnsSettings): DnsSettings<IpAddress, DomainName | '.', DnsOption> {
  return {
    dns: s.dns.map(validateDnsServer),
    dnsSearch: s.dnsSearch.map(validateDnsSearch),
    dnsOptions: s.dnsOptions.map(validateDnsOption),
  };
}

/** The ndots value a user set with --dns-option, if any (the last one wins, as in resolv.conf). */
export function userNdots(options: readonly string[]): number | undefined {
  let n: number | undefined;
  for (const o of options) {
    const m = /^ndots:(\d+)$/.exec(o);
    if (m) n = Number(m[1]);
  }
  return n;
}
