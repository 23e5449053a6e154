// Consul's DNS names for berth's catalog, answered by berth's embedded DNS when the catalog is
// served inside sandboxes (--catalog-host-service). Pure: a zone built from a catalog view.
//
//   web.service.consul, web.service.dc1.consul   A: the instances not critical (Consul's default)
//   primary.web.service.consul                   A: only instances tagged primary
//   _web._tcp.service.consul                     SRV: 1 1 <port> <target>, the target's A
//   _web._primary.service.consul                 SRV with a tag filter (tcp = no filter)
//   web.service.consul SRV                       the same SRV answer
//   h1.node.consul                               A: the node's address
//   c000020a.addr.dc1.consul                     A: 192.0.2.10 (targets of instances with their own address)
// Any other name under .consul is NXDOMAIN: the zone is berth's.
import { isIpv4 } from '../model/ip-literal.js';
import type { DnsRecord } from '../plan/dns-view.js';
import { aggregateStatus, type CatalogView, type Instance } from './view.js';

export interface ZoneAnswer {
  rcode: 'NOERROR' | 'NXDOMAIN';
  records: DnsRecord[];
  additional: DnsRecord[];
}

const TTL = 0;
const QTYPE_A = 1;
const QTYPE_SRV = 33;
const QTYPE_ANY = 255;

function hexIp(ip: string): string {
  return ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join('');
}

function ipOfHex(hex: string): string | undefined {
  if (!/^[0-9a-f]{8}$/.test(hex)) return undefined;
  return [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
}

export class ConsulZone {
  private readonly dc: string;
  private readonly nodeName: string;
  private cursor = new Map<string, number>();

  constructor(private readonly view: CatalogView) {
    this.dc = view.node.datacenter.toLowerCase();
    this.nodeName = view.node.name.toLowerCase();
  }

  /** The answer for a name under .consul (lower case, no trailing dot), or undefined for other names. */
  answer(name: string, qtype: number): ZoneAnswer | undefined {
    if (name !== 'consul' && !name.endsWith('.consul')) return undefined;
    const labels = name.split('.').slice(0, -1);
    // An optional datacenter label before "consul": ours, or no answer.
    if (labels.length >= 2 && labels[labels.length - 1] === this.dc && ['service', 'node', 'addr'].includes(labels[labels.length - 2]!)) labels.pop();
    const kind = labels[labels.length - 1];
    const rest = labels.slice(0, -1);
    const nx: ZoneAnswer = { rcode: 'NXDOMAIN', records: [], additional: [] };
    const empty: ZoneAnswer = { rcode: 'NOERROR', records: [], additional: [] };
    if (kind === 'node') {
      if (rest.join('.') !== this.nodeName) return nx;
      return qtype === QTYPE_A || qtype === QTYPE_ANY ? { rcode: 'NOERROR', records: [{ type: 'A', data: this.view.node.address, ttl: TTL }], additional: [] } : empty;
    }
    if (kind === 'addr') {
      const ip = rest.length === 1 ? ipOfHex(rest[0]!) : undefined;
      if (!ip) return nx;
      return qtype === QTYPE_A || qtype === QTYPE_ANY ? { rcode: 'NOERROR', records: [{ type: 'A', data: ip, ttl: TTL }], additional: [] } : empty;
    }
    if (kind !== 'service' || rest.length === 0 || rest.length > 2) return nx;
    // RFC 2782 form _name._tag (tcp: no tag filter), or the plain [tag.]name.
    let service: string;
    let tag: string | undefined;
    let srvForm = false;
    if (rest.length === 2 && rest[0]!.startsWith('_') && rest[1]!.startsWith('_')) {
      service = rest[0]!.slice(1);
      tag = rest[1] === '_tcp' || rest[1] === '_udp' ? undefined : rest[1]!.slice(1);
      srvForm = true;
    } else {
      service = rest[rest.length - 1]!;
      tag = rest.length === 2 ? rest[0] : undefined;
    }
    const list = this.instances(service, tag);
    if (!list) return nx;
    const key = `${service}|${tag ?? ''}`;
    const rotated = this.rotate(key, list);
    if (qtype === QTYPE_SRV || (srvForm && qtype === QTYPE_ANY)) return this.srv(rotated);
    if (qtype !== QTYPE_A && qtype !== QTYPE_ANY) return empty;
    if (srvForm) return empty;
    return { rcode: 'NOERROR', records: rotated.map((i) => ({ type: 'A' as const, data: this.addressOf(i), ttl: TTL })).filter((r) => isIpv4(r.data)), additional: [] };
  }

  /** Instances of a known service that are not critical (undefined: no such service). */
  private instances(service: string, tag: string | undefined): Instance[] | undefined {
    for (const [name, list] of this.view.services) {
      if (name.toLowerCase() !== service) continue;
      return list.filter((i) => aggregateStatus(i.checks) !== 'critical' && (tag === undefined || i.tags.some((t) => t.toLowerCase() === tag)));
    }
    return undefined;
  }

  private addressOf(i: Instance): string {
    return i.address || this.view.node.address;
  }

  private srv(list: Instance[]): ZoneAnswer {
    const records: DnsRecord[] = [];
    const additional: DnsRecord[] = [];
    const seen = new Set<string>();
    for (const i of list) {
      const ip = this.addressOf(i);
      if (!isIpv4(ip)) continue;
      // Consul's targets: the node's name when the instance uses the node's address, else <hex-ip>.addr.
      const target = ip === this.view.node.address ? `${this.view.node.name}.node.${this.dc}.consul` : `${hexIp(ip)}.addr.${this.dc}.consul`;
      // Priority and weight 1 (the encoder's; Consul's for the default weights).
      records.push({ type: 'SRV', data: target, port: i.port, ttl: TTL });
      if (!seen.has(target)) {
        seen.add(target);
        additional.push({ type: 'A', name: target, data: ip, ttl: TTL });
      }
    }
    return { rcode: 'NOERROR', records, additional };
  }

  /** Consul shuffles; berth rotates, so that every instance comes first in turn. */
  private rotate(key: string, list: Instance[]): Instance[] {
    if (list.length < 2) return list;
    const start = (this.cursor.get(key) ?? 0) % list.length;
    this.cursor.set(key, start + 1);
    return [...list.slice(start), ...list.slice(0, start)];
  }
}
