// Host port allocation for published ports (-p, -P). Pure: the caller passes everything that is
// already taken (other sandboxes' bindings, processes listening on the host) and gets the
// bindings for one sandbox, or a Docker-style error. Nothing here reads the host.
//
// Rules (Docker's):
// - two bindings clash when they have the same protocol and host port and their host addresses
//   overlap (equal, or one of them is 0.0.0.0);
// - a listening socket on the host clashes the same way (a socket on [::] counts as 0.0.0.0);
// - "-p C" and "-P" take free ports from the kernel's ephemeral range (ip_local_port_range),
//   per protocol: the first tcp and the first udp port may both be 32768;
// - "-p H1-H2:C" takes the first free port of H1..H2;
// - -P publishes every exposed port that no -p publishes already.
//
// Cost: the ports in use are indexed once per call (ipam/port-index.ts: sorted arrays per
// protocol and address); each port is then found with a binary search from a cursor that only
// moves forward within a range, so -P with thousands of exposed ports takes milliseconds, not a
// rescan of the range and of every binding per port. A sandbox publishes at most
// MAX_PUBLISHED_PORTS ports.
import { ANY_IPV4 } from '../model/net-values.js';
import { BadRequest, Conflict } from '../model/errors.js';
import type { ExposedPort, Ipv4, PortBinding, PortProto, PortRequest } from '../model/types.js';
import { MAX_PORT_RANGE } from '../model/port-spec.js';
import { PortIndex } from './port-index.js';

/** Most ports one sandbox may publish (every -p range and -P together): as many as one range may hold. */
export const MAX_PUBLISHED_PORTS = MAX_PORT_RANGE;

/** A socket bound on the host; ip is dotted IPv4, '0.0.0.0' for every address. */
export interface HostListener {
  proto: PortProto;
  ip: Ipv4;
  port: number;
}

export interface PortRange {
  start: number;
  end: number;
}

/** Linux's default ip_local_port_range. */
export const DEFAULT_EPHEMERAL: PortRange = { start: 32768, end: 60999 };

export interface AllocateInput {
  /** The sandbox's -p requests. */
  requests: readonly PortRequest[];
  /** Its exposed ports (used by -P). */
  exposed: readonly ExposedPort[];
  publishAll: boolean;
  /** Bindings held by every other sandbox. */
  taken: readonly PortBinding[];
  /** Sockets bound on the host (berthd's namespace). */
  listeners: readonly HostListener[];
  ephemeral: PortRange;
  /** The address for requests without one: the network's host_binding_ipv4 or --default-bind-ip. */
  defaultBindIp: Ipv4;
  /** True when the sandbox is only on internal networks: nothing is published (with a warning). */
  internal?: boolean;
  /** The sandbox's bindings from its last run: a request without a host port gets the same one back if free. */
  previous?: readonly PortBinding[];
}

export interface AllocateResult {
  bindings: PortBinding[];
  warnings: string[];
}

interface Slot {
  ip: Ipv4;
  port: number;
  proto: PortProto;
}

const overlaps = (a: Slot, b: Slot): boolean =>
  a.proto === b.proto && a.port === b.port && (a.ip === b.ip || a.ip === '0.0.0.0' || b.ip === '0.0.0.0');

/** How many host ports the sandbox asks for: one per container port of each -p, plus -P's. */
function countWanted(input: AllocateInput): number {
  let n = 0;
  for (const r of input.requests) n += r.containerPortEnd - r.containerPortStart + 1;
  if (input.publishAll) n += input.exposed.length;
  return n;
}

/** Allocates the host side of every published port of one sandbox. Throws Conflict (409). */
export function allocateHostPorts(input: AllocateInput): AllocateResult {
  const warnings: string[] = [];
  const wants = input.requests.length > 0 || (input.publishAll && input.exposed.length > 0);
  if (input.internal) {
    if (wants) warnings.push('Published ports are discarded: the sandbox is connected only to internal networks');
    return { bindings: [], warnings };
  }
  if (!wants) return { bindings: [], warnings };
  const wanted = countWanted(input);
  if (wanted > MAX_PUBLISHED_PORTS) {
    throw new BadRequest(`too many published ports: ${wanted} requested, a sandbox may publish at most ${MAX_PUBLISHED_PORTS}`);
  }

  const defaultIp = input.defaultBindIp || ANY_IPV4;
  const slotOf = (b: PortBinding): Slot => ({ ip: b.hostIp || ANY_IPV4, port: b.hostPort, proto: b.proto });
  // Everything in use before this call, indexed once: other sandboxes' bindings, host sockets, both.
  const taken = new PortIndex(input.taken.map(slotOf));
  const listening = new PortIndex(input.listeners);
  const busy = new PortIndex([...input.taken.map(slotOf), ...input.listeners]);
  // Ports this call has handed out, per protocol: port -> the addresses holding it.
  const held = { tcp: new Map<number, Ipv4[]>(), udp: new Map<number, Ipv4[]>() };
  const heldOn = (s: Slot): boolean => {
    const ips = held[s.proto].get(s.port);
    return ips !== undefined && (s.ip === ANY_IPV4 || ips.some((ip) => ip === s.ip || ip === ANY_IPV4));
  };
  const isFree = (s: Slot): boolean => !busy.inUse(s.proto, s.ip).has(s.port) && !heldOn(s);

  const claim = (s: Slot, containerPort: number): PortBinding => {
    const ips = held[s.proto].get(s.port);
    if (ips) ips.push(s.ip);
    else held[s.proto].set(s.port, [s.ip]);
    return { hostIp: s.ip, hostPort: s.port, containerPort, proto: s.proto };
  };
  const claimFixed = (s: Slot, containerPort: number): PortBinding => {
    if (taken.inUse(s.proto, s.ip).has(s.port) || heldOn(s)) throw new Conflict(`Bind for ${s.ip}:${s.port} failed: port is already allocated`);
    if (listening.inUse(s.proto, s.ip).has(s.port)) {
      const l = input.listeners.find((x) => overlaps(x, s))!; // the error path only: a scan is fine
      throw new Conflict(
        `Bind for ${s.ip}:${s.port} failed: port is already in use by a process on the host (listening on ${l.ip}:${l.port}/${l.proto})`,
      );
    }
    return claim(s, containerPort);
  };
  // Per address, protocol and range: every port of the range below the cursor is taken (by
  // something else or by this call), so the next search starts there.
  const cursors = new Map<string, number>();
  // The sandbox's bindings from its last run, by address, protocol and container port.
  const previous = new Map<string, PortBinding>();
  for (const b of input.previous ?? []) {
    const key = `${b.hostIp}/${b.proto}/${b.containerPort}`;
    if (!previous.has(key)) previous.set(key, b);
  }
  const claimInRange = (ip: Ipv4, proto: PortProto, range: PortRange, containerPort: number, dynamic: boolean): PortBinding => {
    const prior = previous.get(`${ip}/${proto}/${containerPort}`);
    if (prior && prior.hostPort >= range.start && prior.hostPort <= range.end && isFree({ ip, port: prior.hostPort, proto })) {
      return claim({ ip, port: prior.hostPort, proto }, containerPort);
    }
    const key = `${ip}/${proto}/${range.start}-${range.end}`;
    const inUse = busy.inUse(proto, ip);
    let port = cursors.get(key) ?? range.start;
    const mine = held[proto];
    for (;;) {
      port = inUse.nextFree(port);
      if (port > range.end) break;
      if (!mine.has(port) || !heldOn({ ip, port, proto })) {
        cursors.set(key, port + 1);
        return claim({ ip, port, proto }, containerPort);
      }
      port++;
    }
    cursors.set(key, port);
    if (dynamic) throw new Conflict(`Bind for ${ip}:${containerPort}/${proto} failed: all ports are allocated`);
    throw new Conflict(`Bind for ${ip}:${range.start}-${range.end} failed: every port of the range is already allocated`);
  };

  // Explicit host ports first, so that a free port picked for another request never steals one
  // the user named. Results are put back in request order.
  const slots: Array<PortBinding[]> = input.requests.map(() => []);
  const order = input.requests
    .map((r, i) => ({ r, i, fixed: r.hostPortStart !== 0 && (r.hostPortStart === r.hostPortEnd || r.containerPortStart !== r.containerPortEnd) }))
    .sort((a, b) => Number(b.fixed) - Number(a.fixed) || a.i - b.i);
  for (const { r, i, fixed } of order) {
    const ip = r.hostIp === '' ? defaultIp : r.hostIp;
    const out = slots[i]!;
    const count = r.containerPortEnd - r.containerPortStart + 1;
    for (let k = 0; k < count; k++) {
      const containerPort = r.containerPortStart + k;
      if (fixed) {
        out.push(claimFixed({ ip, port: r.hostPortStart + k, proto: r.proto }, containerPort));
      } else if (r.hostPortStart !== 0) {
        out.push(claimInRange(ip, r.proto, { start: r.hostPortStart, end: r.hostPortEnd }, containerPort, false));
      } else {
        out.push(claimInRange(ip, r.proto, input.ephemeral, containerPort, true));
      }
    }
  }
  const bindings = slots.flat();

  if (input.publishAll) {
    // Exposed ports that a -p already publishes: one set, not a scan of the requests per port.
    const published = new Set<string>();
    for (const r of input.requests) {
      for (let p = r.containerPortStart; p <= r.containerPortEnd; p++) published.add(`${r.proto}/${p}`);
    }
    for (const e of input.exposed) {
      if (!published.has(`${e.proto}/${e.port}`)) bindings.push(claimInRange(defaultIp, e.proto, input.ephemeral, e.port, true));
    }
  }
  return { bindings, warnings };
}

/** Docker's `docker port` lines: "80/tcp -> 0.0.0.0:8080", sorted by container port and protocol. */
export function formatBindings(bindings: readonly PortBinding[]): string[] {
  return [...bindings]
    .sort((a, b) => a.containerPort - b.containerPort || a.proto.localeCompare(b.proto) || a.hostPort - b.hostPort)
    .map((b) => `${b.containerPort}/${b.proto} -> ${b.hostIp}:${b.hostPort}`);
}
