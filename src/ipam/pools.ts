// Address pools: where subnets for new networks come from when the user gives no --subnet.
// Docker's defaults: 172.17.0.0/16 .. 172.31.0.0/16 as /16s, then 192.168.0.0/16 in /20s.
import type { Cidr } from '../model/types.js';
import { BadRequest, Conflict } from '../model/errors.js';
import { formatCidr, overlaps, parseCidr, size, type Prefix } from './ipv4.js';

export interface AddressPool {
  base: string;
  size: number;
}

export const DEFAULT_POOLS: AddressPool[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

/** Parses berthd's --default-address-pool base=CIDR,size=N. */
export function parsePoolFlag(text: string): AddressPool {
  const fields = Object.fromEntries(
    text.split(',').map((kv) => {
      const i = kv.indexOf('=');
      return i < 0 ? [kv, ''] : [kv.slice(0, i).trim(), kv.slice(i + 1).trim()];
    }),
  );
  const base = fields['base'];
  const sz = Number(fields['size']);
  if (!base || !Number.isInteger(sz)) {
    throw new BadRequest(`invalid --default-address-pool "${text}": expected base=CIDR,size=N`);
  }
  const p = parseCidr(base, 'address pool base', true);
  if (sz < p.len || sz > 30) {
    throw new BadRequest(`invalid --default-address-pool "${text}": size must be between ${p.len} and 30`);
  }
  return { base, size: sz };
}

/**
 * The first subnet from the pools that overlaps neither a subnet in use nor a route on the host.
 * Pure: callers pass what is in use.
 */
export function nextFreeSubnet(pools: AddressPool[], inUse: Prefix[]): Cidr {
  for (const pool of pools) {
    const base = parseCidr(pool.base, 'address pool', true);
    const step = 2 ** (32 - pool.size);
    const count = size(base) / step;
    for (let i = 0; i < count; i++) {
      const candidate: Prefix = { base: (base.base + i * step) >>> 0, len: pool.size };
      if (!inUse.some((u) => overlaps(u, candidate))) return formatCidr(candidate);
    }
  }
  throw new Conflict('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}
