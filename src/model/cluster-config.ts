// berthd's cluster flags, parsed (pure): --cluster-store etcd://A:2379,B:2379 --advertise-addr IP
// --node-name N --lease-ttl S. Without --cluster-store berth is single-host and needs no etcd.
import { BadRequest } from './errors.js';
import { parseIpv4 } from './net-values.js';
import type { Ipv4 } from './types.js';

export interface ClusterConfig {
  /** etcd client URLs, "http://host:port", in the order given. */
  endpoints: string[];
  advertiseAddr: Ipv4;
  nodeName: string;
  /** Seconds the node record outlives its berthd (etcd lease TTL). */
  leaseTtl: number;
  /** Deadline of every unary etcd call, in ms. */
  callDeadlineMs: number;
}

export const DEFAULT_LEASE_TTL = 10;
export const MAX_LEASE_TTL = 60;
/** A node name: a DNS label (it appears in `node ls` and in constraints node.name==N). */
const NODE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** "etcd://a:2379,b:2379" -> ["http://a:2379", "http://b:2379"]. */
export function parseClusterStore(text: string): string[] {
  const m = /^etcd:\/\/(.+)$/.exec(text);
  if (!m) throw new BadRequest(`invalid --cluster-store "${text}": use etcd://HOST:PORT[,HOST:PORT...]`);
  const hosts = m[1]!.split(',');
  return hosts.map((h) => {
    const hm = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(h);
    const port = Number(hm?.[2]);
    if (!hm || port < 1 || port > 65535) throw new BadRequest(`invalid --cluster-store member "${h}": use HOST:PORT, e.g. 10.0.0.1:2379`);
    return `http://${hm[1]}:${port}`;
  });
}

export interface ClusterFlags {
  clusterStore?: string | undefined;
  advertiseAddr?: string | undefined;
  nodeName?: string | undefined;
  leaseTtl?: string | undefined;
}

/** undefined when berthd is single-host (no --cluster-store); the other flags then are refused. */
export function parseClusterFlags(f: ClusterFlags, defaultNodeName: string): ClusterConfig | undefined {
  if (f.clusterStore === undefined) {
    for (const [flag, v] of [['--advertise-addr', f.advertiseAddr], ['--node-name', f.nodeName], ['--lease-ttl', f.leaseTtl]] as const) {
      if (v !== undefined) throw new BadRequest(`${flag} needs --cluster-store etcd://HOST:PORT[,...]`);
    }
    return undefined;
  }
  const endpoints = parseClusterStore(f.clusterStore);
  if (f.advertiseAddr === undefined) throw new BadRequest('--cluster-store needs --advertise-addr IP: the address other hosts reach this one at');
  const advertiseAddr = parseIpv4(f.advertiseAddr, '--advertise-addr');
  const nodeName = f.nodeName ?? defaultNodeName;
  if (!NODE_NAME.test(nodeName)) throw new BadRequest(`invalid --node-name "${nodeName}": use letters, digits and "-" (a DNS label)`);
  const ttlText = f.leaseTtl ?? String(DEFAULT_LEASE_TTL);
  const leaseTtl = Number(ttlText);
  if (!/^\d+$/.test(ttlText) || leaseTtl < 2 || leaseTtl > MAX_LEASE_TTL) throw new BadRequest(`invalid --lease-ttl "${ttlText}": whole seconds from 2 to ${MAX_LEASE_TTL}`);
  // A call may not wait longer than a lease lives: a host must notice etcd is gone before its
  // record expires. Bounded to 1-3 s.
  const callDeadlineMs = Math.min(3000, Math.max(1000, Math.floor((leaseTtl * 1000) / 3)));
  return { endpoints, advertiseAddr, nodeName, leaseTtl, callDeadlineMs };
}
