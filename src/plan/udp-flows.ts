// Which published UDP host ports need their conntrack entries forgotten. Pure.
//
// A UDP "connection" lives in conntrack for as long as packets keep coming (120 s after the last
// one once assured). When a published UDP port gets a new target (the sandbox was replaced and
// has another address) or loses it, a client that keeps its source port (DNS forwarders,
// syslog, statsd, VPN peers) would keep being DNATed to the old address by its existing
// entry. Docker deletes those entries when it programs a UDP mapping; so does berth.
import type { Ipv4 } from '../model/types.js';
import type { FwPublished } from './firewall-view.js';

export interface UdpHostPort {
  hostIp: Ipv4;
  hostPort: number;
}

const key = (p: FwPublished): string => `${p.hostIp} ${p.hostPort} ${p.targetIp} ${p.targetPort}`;

/** The UDP host ports whose mapping appeared, disappeared or changed target between two views. */
export function changedUdpPorts(prev: readonly FwPublished[], next: readonly FwPublished[]): UdpHostPort[] {
  const udp = (list: readonly FwPublished[]) => new Map(list.filter((p) => p.proto === 'udp').map((p) => [key(p), p] as const));
  const before = udp(prev);
  const after = udp(next);
  const out = new Map<string, UdpHostPort>();
  const changed = [...[...after].filter(([k]) => !before.has(k)), ...[...before].filter(([k]) => !after.has(k))];
  for (const [, p] of changed) out.set(`${p.hostIp} ${p.hostPort}`, { hostIp: p.hostIp, hostPort: p.hostPort });
  return [...out.values()].sort((a, b) => a.hostPort - b.hostPort || a.hostIp.localeCompare(b.hostIp));
}
