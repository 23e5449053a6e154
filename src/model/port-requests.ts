// The ports of a create request in Docker's API shape (ExposedPorts and HostConfig.PortBindings)
// -> the exposed ports and the publish requests berth records. Pure; Docker's messages.
import { BadRequest } from './errors.js';
import { parsePortKey, parsePortRange } from './port-spec.js';
import type { ExposedPort, Ipv4, PortProto, PortRequest } from './types.js';

export interface PortBindingInput {
  /** Already parsed: '' (the default address) or an IPv4 address. */
  HostIp: Ipv4 | '';
  HostPort: string;
}

export interface PortsInput {
  ExposedPorts: Record<string, unknown>;
  PortBindings: Record<string, PortBindingInput[] | null>;
}

function parseHostPort(text: string, containerCount: number): { start: number; end: number } {
  if (!text) return { start: 0, end: 0 };
  let [start, end] = [0, 0];
  try {
    [start, end] = parsePortRange(text);
  } catch (err) {
    throw new BadRequest(`invalid host port "${text}": ${(err as Error).message}`);
  }
  if (start < 1) throw new BadRequest(`invalid host port "${text}": ports go from 1 to 65535`);
  if (!text.includes('-') && containerCount > 1) end = start + containerCount - 1;
  if (containerCount > 1 && end - start + 1 !== containerCount) {
    throw new BadRequest(`invalid ranges specified for container and host ports: ${text} does not match ${containerCount} container ports`);
  }
  return { start, end };
}

export function portRequestsOf(req: PortsInput): { exposed: ExposedPort[]; requests: PortRequest[] } {
  const exposed = new Map<string, ExposedPort>();
  const add = (port: number, proto: PortProto) => exposed.set(`${port}/${proto}`, { port, proto });
  for (const key of Object.keys(req.ExposedPorts)) {
    const p = parsePortKey(key);
    for (let port = p.start; port <= p.end; port++) add(port, p.proto);
  }
  const requests: PortRequest[] = [];
  for (const [key, bindings] of Object.entries(req.PortBindings)) {
    const c = parsePortKey(key);
    for (let port = c.start; port <= c.end; port++) add(port, c.proto);
    for (const b of bindings ?? [{ HostIp: '' as const, HostPort: '' }]) {
      const h = parseHostPort(b.HostPort, c.end - c.start + 1);
      requests.push({ hostIp: b.HostIp, hostPortStart: h.start, hostPortEnd: h.end, containerPortStart: c.start, containerPortEnd: c.end, proto: c.proto });
    }
  }
  return { exposed: [...exposed.values()].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto)), requests };
}
