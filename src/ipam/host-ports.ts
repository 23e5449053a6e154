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
import { ANY_IPV4 } from '../model/net-values.js';
import { Conflict } from '../model/errors.js';
import type { ExposedPort, Ipv4, PortBinding, PortProto, PortRequest } from '../model/types.js';

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

/** Allocates the host side of every published port of one sandbox. Throws Conflict (409). */
export function allocateHostPorts(input: AllocateInput): AllocateResult {
  const warnings: string[] = [];
  const wants = input.requests.length > 0 || (input.publishAll && input.exposed.length > 0);
  if (input.internal) {
    if (wants) warnings.push('Published ports are discarded: the sandbox is connected only to internal networks');
    return { bindings: [], warnings };
  }
  if (!wants) return { bindings: [], warnings };

  const defaultIp = input.defaultBindIp || ANY_IPV4;
  const held: PortBinding[] = []; // this sandbox's bindings so far
  const slotOf = (b: PortBinding): Slot => ({ ip: b.hostIp || ANY_IPV4, port: b.hostPort, proto: b.proto });
  const takenBy = (s: Slot): PortBinding | undefined =>
    input.taken.find((b) => overlaps(slotOf(b), s)) ?? held.find((b) => overlaps(slotOf(b), s));
  const listenerOn = (s: Slot): HostListener | undefined => input.listeners.find((l) => overlaps(l, s));
  const isFree = (s: Slot): boolean => !takenBy(s) && !listenerOn(s);

  const claim = (s: Slot, containerPort: number): PortBinding => {
    const b: PortBinding = { hostIp: s.ip, hostPort: s.port, containerPort, proto: s.proto };
    held.push(b);
    return b;
  };
  const claimFixed = (s: Slot, containerPort: number): PortBinding => {
    if (takenBy(s)) throw new Conflict(`Bind for ${s.ip}:${s.port} failed: port is already allocated`);
    const l = listenerOn(s);
    if (l) {
      throw new Conflict(
        `Bind for ${s.ip}:${s.port} failed: port is already in use by a process on the host (listening on ${l.ip}:${l.port}/${l.proto})`,
      );
    }
    return claim(s, containerPort);
  };
  const claimInRange = (ip: Ipv4, proto: PortProto, range: PortRange, containerPort: number, dynamic: boolean): PortBinding => {
    const prior = input.previous?.find((b) => b.containerPort === containerPort && b.proto === proto && b.hostIp === ip);
    if (prior && prior.hostPort >= range.start && prior.hostPort <= range.end && isFree({ ip, port: prior.hostPort, proto })) {
      return claim({ ip, port: prior.hostPort, proto }, containerPort);
    }
    for (let port = range.start; port <= range.end; port++) {
      if (isFree({ ip, port, proto })) return claim({ ip, port, proto }, containerPort);
    }
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
    for (const e of input.exposed) {
      const published = input.requests.some(
        (r) => r.proto === e.proto && e.port >= r.containerPortStart && e.port <= r.containerPortEnd,
      );
      if (!published) bindings.push(claimInRange(defaultIp, e.proto, input.ephemeral, e.port, true));
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
