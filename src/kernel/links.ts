// Links, addresses and routes through iproute2 in batch mode: one process per namespace per change.
// The lines are planned by plan/link-plan.ts (an IpBatch); this module only runs them.
import type { IfName } from '../model/types.js';
import type { IpBatch } from '../plan/link-plan.js';
import { run, runOk, type Runner } from './exec.js';

export async function ipBatch(lines: IpBatch, netnsPath?: string, runner: Runner = run): Promise<void> {
  if (lines.length === 0) return;
  const argv = netnsPath ? ['nsenter', `--net=${netnsPath}`, 'ip', '-batch', '-'] : ['ip', '-batch', '-'];
  await runOk(argv, { input: lines.join('\n') + '\n' }, runner);
}

export interface LinkInfo {
  ifname: string;
  master?: string;
  operstate?: string;
  address?: string;
  link_type?: string;
}

export async function listLinks(netnsPath?: string): Promise<LinkInfo[]> {
  const argv = netnsPath ? ['nsenter', `--net=${netnsPath}`, 'ip', '-j', 'link', 'show'] : ['ip', '-j', 'link', 'show'];
  return JSON.parse((await runOk(argv)) || '[]') as LinkInfo[];
}

export async function linkExists(name: IfName): Promise<boolean> {
  return (await run(['ip', 'link', 'show', 'dev', name])).code === 0;
}

export async function deleteLink(name: IfName): Promise<void> {
  await run(['ip', 'link', 'del', 'dev', name]);
}

export interface RouteInfo {
  dst: string;
}

/** Routes in berthd's namespace, for refusing subnets that would shadow them. */
export async function listRoutes(): Promise<string[]> {
  const out = JSON.parse((await runOk(['ip', '-j', '-4', 'route', 'show', 'table', 'all'])) || '[]') as RouteInfo[];
  return out.map((r) => r.dst).filter((d) => d && d !== 'default' && !d.startsWith('127.') && d !== 'broadcast');
}

/** IPv4 addresses with their prefix length, by interface, in berthd's namespace. */
export async function listAddresses(): Promise<Map<string, Array<{ ip: string; len: number }>>> {
  const out = JSON.parse((await runOk(['ip', '-j', '-4', 'addr', 'show'])) || '[]') as Array<{ ifname: string; addr_info?: Array<{ local: string; prefixlen: number }> }>;
  return new Map(out.map((l) => [l.ifname, (l.addr_info ?? []).map((a) => ({ ip: a.local, len: a.prefixlen }))]));
}
