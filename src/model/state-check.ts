// Records written by an older berth may hold values that were validated in a normalised form but
// stored raw (a --dns-search of "\nnameserver" was stored with its newline). At start every
// value that reaches a sandbox's resolv.conf or /etc/hosts is parsed again; what does not parse
// is dropped, with a line saying so. Pure: fixes the records in place, returns the messages and
// the records it changed.
import { validateDnsOption, validateDnsSearch, validateDnsServer } from './dns-options.js';
import { formatExtraHost, parseExtraHost } from './extra-hosts.js';
import { validateAlias, validateHostname } from './names.js';
import type { BerthState, SandboxRecord } from './types.js';

function keep<T>(values: readonly string[], parse: (v: string) => T, drop: (v: string) => void): T[] {
  const out: T[] = [];
  for (const v of values) {
    try {
      out.push(parse(v));
    } catch {
      drop(v);
    }
  }
  return out;
}

export function recheckSandboxValues(state: BerthState): { notes: string[]; changed: SandboxRecord[] } {
  const notes: string[] = [];
  const changed: SandboxRecord[] = [];
  for (const sb of Object.values(state.sandboxes)) {
    const before = JSON.stringify(sb.config);
    const c = sb.config;
    const drop = (what: string) => (v: string) => notes.push(`sandbox ${sb.name}: dropped ${what} ${JSON.stringify(v)} recorded by an older berth: it does not parse`);
    c.dns = keep(c.dns, validateDnsServer, drop('--dns'));
    c.dnsSearch = keep(c.dnsSearch, validateDnsSearch, drop('--dns-search'));
    c.dnsOptions = keep(c.dnsOptions, validateDnsOption, drop('--dns-option'));
    c.extraHosts = keep(c.extraHosts, (v) => formatExtraHost(parseExtraHost(v)), drop('--add-host'));
    for (const n of c.networks) n.aliases = keep(n.aliases, validateAlias, drop('alias'));
    if (c.hostname) {
      const [h] = keep([c.hostname], validateHostname, drop('--hostname'));
      c.hostname = h ?? '';
      c.userHostname = c.userHostname && Boolean(h);
    }
    if (JSON.stringify(c) !== before) changed.push(sb);
  }
  return { notes, changed };
}
