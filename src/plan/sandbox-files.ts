// The files a sandbox sees as /etc/hosts, /etc/resolv.conf and /etc/hostname, derived from state. Pure.
import type { BerthState, SandboxRecord } from '../model/types.js';
import { shortId } from '../model/ids.js';

export interface HostFacts {
  /** Text of the resolv.conf berthd uses for upstream resolvers. */
  resolvConf: string;
  /** The host's hostname and /etc/hosts, used by --network host sandboxes. */
  hostHostname: string;
  hostHosts: string;
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

/** Resolvers on loopback cannot be reached from a sandbox's namespace, so Docker drops them. */
export function filterHostResolvConf(text: string): string {
  const lines = text.split('\n').filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !(m[1]!.startsWith('127.') || m[1] === '::1');
  });
  return lines.join('\n').replace(/\n*$/, '\n');
}

export function sandboxFiles(state: BerthState, sb: SandboxRecord, host: HostFacts): SandboxFiles {
  const mode = sb.config.networkMode;
  if (mode === 'host') {
    return { hosts: host.hostHosts, resolvConf: host.resolvConf, hostname: host.hostHostname + '\n' };
  }
  const hostname = sb.config.hostname || shortId(sb.id);
  const lines = [...STANDARD_HOSTS];
  const firstEp = Object.values(sb.endpoints).find((e) => e.ip);
  if (firstEp?.ip) lines.push(`${firstEp.ip}\t${hostname}`);
  void state;
  return { hosts: lines.join('\n') + '\n', resolvConf: filterHostResolvConf(host.resolvConf), hostname: hostname + '\n' };
}
