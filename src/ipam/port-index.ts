// Which host ports are in use, indexed for allocation: per protocol and address, a sorted array of
// ports, on which "the first free port at or after P" is a binary search (O(log n)), however many
// ports are taken. Pure.
//
// A port on address X is in use when something holds it on X or on 0.0.0.0; a port on 0.0.0.0 is
// in use when something holds it on any address (Docker's overlap rule). The array for a query
// address is built once per operation and cached.
import { ANY_IPV4 } from '../model/net-values.js';
import type { Ipv4, PortProto } from '../model/types.js';

export interface PortHolder {
  proto: PortProto;
  ip: Ipv4;
  port: number;
}


/** Index of the first element >= x in a sorted array. */
function lowerBound(a: Uint16Array | number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sorted, duplicate-free ports with O(log n) membership and next-free queries. */
export class SortedPorts {
  private readonly a: Uint16Array;

  constructor(ports: Iterable<number>) {
    const sorted = Uint16Array.from(new Set(ports)).sort();
    this.a = sorted;
  }

  get size(): number {
    return this.a.length;
  }

  has(port: number): boolean {
    const i = lowerBound(this.a, port);
    return i < this.a.length && this.a[i] === port;
  }

  /**
   * The smallest port >= from that is not in the set (65536 when none is left). In a sorted array
   * of distinct integers a[j] - j never decreases, so the end of the run of consecutive ports
   * starting at `from` is found by binary search too.
   */
  nextFree(from: number): number {
    const a = this.a;
    const i = lowerBound(a, from);
    if (i === a.length || a[i] !== from) return from;
    // Last j >= i with a[j] - j === from - i (still inside the run).
    const key = from - i;
    let lo = i;
    let hi = a.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (a[mid]! - mid === key) lo = mid;
      else hi = mid - 1;
    }
    return a[lo]! + 1;
  }
}

/** Ports held per protocol and address; queries answer with Docker's overlap rule. */
export class PortIndex {
  private readonly byProto = new Map<PortProto, Map<Ipv4, number[]>>();
  private readonly cache = new Map<string, SortedPorts>();

  constructor(holders: Iterable<PortHolder>) {
    for (const h of holders) {
      let m = this.byProto.get(h.proto);
      if (!m) this.byProto.set(h.proto, (m = new Map()));
      const ip = h.ip || ANY_IPV4;
      let list = m.get(ip);
      if (!list) m.set(ip, (list = []));
      list.push(h.port);
    }
  }

  /** The ports a binding on `ip` cannot take. */
  inUse(proto: PortProto, ip: Ipv4): SortedPorts {
    const key = `${proto}/${ip}`;
    let s = this.cache.get(key);
    if (!s) {
      const m = this.byProto.get(proto) ?? new Map<Ipv4, number[]>();
      const lists = ip === ANY_IPV4 ? [...m.values()] : [m.get(ip) ?? [], m.get(ANY_IPV4) ?? []];
      s = new SortedPorts(lists.flat());
      this.cache.set(key, s);
    }
    return s;
  }
}
