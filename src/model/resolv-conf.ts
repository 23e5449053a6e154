// resolv.conf: parse, filter and build, following moby's libnetwork/resolvconf. Pure.
// What goes into a built file is typed: addresses (Ipv4, IpAddress), domains (DomainName), options
// (DnsOption) from berth's parse functions, or words read from the host's file (ResolvWord).
import { parseIpLiteral } from './ip-literal.js';
import type { DnsOption, DomainName, IpAddress, Ipv4 } from './types.js';

/** One word of a line of the host's resolv.conf: split on whitespace, so it cannot break a line. */
export type ResolvWord = string & { readonly __brand: 'ResolvWord' };

export interface ResolvConf {
  /** Every `nameserver` address, in file order. */
  nameservers: IpAddress[];
  /** The last `search` line's domains (as glibc: the last search/domain line wins). */
  search: ResolvWord[];
  /** The last `options` line's options. */
  options: ResolvWord[];
}

function contentLines(text: string): ResolvWord[][] {
  const out: ResolvWord[][] = [];
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    const line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (!line || line.startsWith(';')) continue;
    out.push(line.split(/\s+/) as ResolvWord[]);
  }
  return out;
}

export function parseResolvConf(text: string): ResolvConf {
  const rc: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const [key, ...rest] of contentLines(text)) {
    if (key === 'nameserver' && rest[0]) {
      // A nameserver that is not an address is useless to a resolver: dropped, not copied.
      const ip = parseIpLiteral(rest[0]);
      if (ip) rc.nameservers.push(ip.ip as IpAddress);
    }
    else if (key === 'search') rc.search = rest;
    else if (key === 'options') rc.options = rest;
  }
  return rc;
}

export function isLoopbackResolver(ip: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip) || ip === '::1';
}

/** Docker's fallback when the host lists no resolver a sandbox can reach (IPv4 only: berth sandboxes have no IPv6). */
export const DEFAULT_RESOLVERS = ['8.8.8.8', '8.8.4.4'] as IpAddress[];

/** systemd-resolved's stub address; when the host lists only it, the real upstreams are in RESOLVED_CONF. */
export const RESOLVED_STUB = '127.0.0.53';
export const RESOLVED_CONF = '/run/systemd/resolve/resolv.conf';

/** True when a resolv.conf names only systemd-resolved's stub (Docker then reads RESOLVED_CONF instead). */
export function onlyResolvedStub(text: string): boolean {
  const ns = parseResolvConf(text).nameservers;
  return ns.length > 0 && ns.every((n) => n === RESOLVED_STUB);
}

/**
 * The host's resolv.conf as a sandbox without embedded DNS sees it (default bridge, none): the text
 * kept as is (comments included) minus loopback and IPv6 nameservers, which the sandbox cannot
 * reach; if no nameserver is left, Docker's defaults are appended.
 */
export function filterHostResolvConf(text: string): string {
  const kept = text.split('\n').filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !(isLoopbackResolver(m[1]!) || m[1]!.includes(':'));
  });
  let out = kept.join('\n').replace(/\n*$/, '\n');
  if (out.trim() === '') out = '';
  if (parseResolvConf(out).nameservers.length === 0) {
    out += DEFAULT_RESOLVERS.map((n) => `nameserver ${n}\n`).join('');
  }
  return out;
}

/** moby's resolvconf.Build: search, then nameservers, then options. `search .` means no search line. */
export function buildResolvConf(
  nameservers: readonly (Ipv4 | IpAddress)[],
  search: readonly (DomainName | '.' | ResolvWord)[],
  options: readonly (DnsOption | ResolvWord)[],
): string {
  let out = '';
  const searchText = search.join(' ');
  if (search.length > 0 && searchText.trim() !== '.') out += `search ${searchText}\n`;
  for (const ns of nameservers) out += `nameserver ${ns}\n`;
  const optText = options.join(' ');
  if (options.length > 0 && optText.trim() !== '') out += `options ${optText}\n`;
  return out;
}
