// Address allocation inside one subnet. Pure: the caller passes the addresses in use, so the
// same inputs always give the same answer, and the store is the single source of truth.
import { BadRequest, Conflict } from '../model/errors.js';
import type { Ipv4 } from '../model/types.js';
import { contains, formatIp, last, parseCidr, parseIp, within, type Prefix } from './ipv4.js';

export interface SubnetPlan {
  subnet: Prefix;
  /** Where dynamic addresses come from (defaults to the whole subnet). */
  range: Prefix;
  gateway: number | undefined;
}

export function planSubnet(subnet: string, gateway: string | undefined, ipRange: string | undefined): SubnetPlan {
  const s = parseCidr(subnet, 'subnet', true);
  if (s.len > 30) throw new BadRequest(`invalid subnet ${subnet}: it must hold at least two addresses (/30 or larger)`);
  let range = s;
  if (ipRange) {
    range = parseCidr(ipRange, 'ip-range', true);
    if (!within(s, range)) throw new BadRequest(`invalid ip-range ${ipRange}: it is not inside subnet ${subnet}`);
  }
  let gw: number | undefined;
  if (gateway) {
    gw = parseIp(gateway, 'gateway');
    if (!contains(s, gw)) throw new BadRequest(`invalid gateway ${gateway}: it is not inside subnet ${subnet}`);
    if (gw === s.base || gw === last(s)) throw new BadRequest(`invalid gateway ${gateway}: it is the network or broadcast address of ${subnet}`);
  }
  return { subnet: s, range, gateway: gw };
}

/** Docker's default gateway: the first host address of the subnet (of the range when one is given). */
export function defaultGateway(plan: SubnetPlan): Ipv4 {
  return formatIp(plan.range.base + 1);
}

/**
 * Picks an address: the requested one if free and valid, else the first free address of the
 * range, skipping the network, broadcast and gateway addresses.
 */
export function allocateAddress(plan: SubnetPlan, used: ReadonlySet<string>, requested?: Ipv4): Ipv4 {
  const s = plan.subnet;
  if (requested) {
    const ip = parseIp(requested, 'IP address');
    if (!contains(s, ip)) throw new BadRequest(`invalid address ${requested}: it is not in the network's subnet ${formatIp(s.base)}/${s.len}`);
    if (ip === s.base || ip === last(s) || ip === plan.gateway) {
      throw new BadRequest(`invalid address ${requested}: it is the network, broadcast or gateway address`);
    }
    if (used.has(requested)) throw new Conflict(`Address already in use: ${requested} is taken on this network`);
    return requested;
  }
  // The range's own base address is skipped too: an address ending in .0 confuses many tools.
  const first = Math.max(plan.range.base + 1, s.base + 1);
  const end = Math.min(last(plan.range), last(s) - 1);
  for (let ip = first; ip <= end; ip++) {
    if (ip === plan.gateway) continue;
    const text = formatIp(ip >>> 0);
    if (!used.has(text)) return text;
  }
  throw new Conflict(`no available IPv4 addresses on this network's address pools (${formatIp(plan.range.base)}/${plan.range.len} is full)`);
}
