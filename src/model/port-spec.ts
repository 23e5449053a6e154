// Parsing of `-p/--publish` and `--expose` values into PortRequest[] and ExposedPort[]. Pure.
// The grammar and the error texts follow Docker (go-connections nat.ParsePortSpec, Docker 20.10):
//
//   -p [IP:][HOSTPORT[-HOSTPORT]:]CONTAINERPORT[-CONTAINERPORT][/tcp|/udp]
//     8080:80      host 8080 -> container 80/tcp
//     127.0.0.1:8081:80, 127.0.0.1::80 (free host port on 127.0.0.1), 80 (free host port)
//     8000-8010:80-90 (one to one), 8000-8010:80 (the first free host port of the range)
//   --expose PORT[-PORT][/tcp|/udp]
import { BadRequest } from './errors.js';
import { isIpv4 } from './ip-literal.js';
import type { ExposedPort, Ipv4, PortProto, PortRequest } from './types.js';

const PORT_RE = /^\d{1,5}$/;

/**
 * Most ports one range may hold (a -p container range, an --expose range). Each port becomes a
 * binding, a firewall element and a line of `berth port`; 1-65535 is a typo, not a plan.
 */
export const MAX_PORT_RANGE = 10_000;
const rangeTooBig = (start: number, end: number): string | undefined =>
  end - start + 1 > MAX_PORT_RANGE ? `a range may hold at most ${MAX_PORT_RANGE} ports, ${start}-${end} holds ${end - start + 1}` : undefined;

/** "80" or "8000-8010" -> [start, end]; Docker's nat.ParsePortRange. Throws a plain Error. */
export function parsePortRange(text: string): [number, number] {
  if (text === '') throw new Error('Empty string specified for ports.');
  const dash = text.indexOf('-');
  const startText = dash < 0 ? text : text.slice(0, dash);
  const endText = dash < 0 ? text : text.slice(dash + 1);
  for (const t of [startText, endText]) {
    if (!PORT_RE.test(t) || Number(t) > 65535) {
      throw new Error(`strconv.ParseUint: parsing "${t}": ${PORT_RE.test(t) ? 'value out of range' : 'invalid syntax'}`);
    }
  }
  const start = Number(startText);
  const end = Number(endText);
  if (end < start) throw new Error(`Invalid range specified for the Port: ${text}`);
  return [start, end];
}

/** A port key of Docker's API ("80/tcp", "8000-8010/udp", "53") -> its range and protocol. */
export function parsePortKey(key: string): { start: number; end: number; proto: PortProto } {
  const [protoText, portText] = splitProtoPort(key);
  let start: number;
  let end: number;
  try {
    [start, end] = parsePortRange(portText);
  } catch (err) {
    throw new BadRequest(`invalid port "${key}": ${(err as Error).message}`);
  }
  if (start < 1) throw new BadRequest(`invalid port "${key}": ports go from 1 to 65535`);
  const big = rangeTooBig(start, end);
  if (big) throw new BadRequest(`invalid port "${key}": ${big}`);
  return { start, end, proto: checkProto(protoText) };
}

/** "80/udp" -> ["udp", "80"]; no protocol means tcp. */
function splitProtoPort(raw: string): [string, string] {
  const slash = raw.indexOf('/');
  if (slash < 0) return ['tcp', raw];
  const proto = raw.slice(slash + 1);
  return [proto === '' ? 'tcp' : proto, raw.slice(0, slash)];
}

function checkProto(proto: string): PortProto {
  const p = proto.toLowerCase();
  if (p === 'tcp' || p === 'udp') return p;
  // Docker also accepts sctp; berth publishes tcp and udp only.
  throw new BadRequest(`Invalid proto: ${proto}`);
}

/** Splits "ip:host:container" the way Docker does: the last two colons separate the parts. */
function splitParts(raw: string): [string, string, string] {
  const parts = raw.split(':');
  const n = parts.length;
  const container = parts[n - 1] ?? '';
  if (n === 1) return ['', '', container];
  if (n === 2) return ['', parts[0] ?? '', container];
  return [parts.slice(0, n - 2).join(':'), parts[n - 2] ?? '', container];
}

/** Parses one -p value. A host port of 0 (or none) means "pick a free port". */
export function parsePortSpec(raw: string): PortRequest {
  const [ipPart, hostPart, containerWithProto] = splitParts(raw.trim());
  const [protoText, containerPart] = splitProtoPort(containerWithProto);
  let ip = ipPart;
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip !== '' && !isIpv4(ip)) {
    if (ip.includes(':')) {
      throw new BadRequest(`Invalid ip address: ${ip}: berth publishes ports on IPv4 addresses only`);
    }
    throw new BadRequest(`Invalid ip address: ${ip}`);
  }
  if (containerPart === '') throw new BadRequest(`No port specified: ${raw}<empty>`);
  let cStart: number;
  let cEnd: number;
  try {
    [cStart, cEnd] = parsePortRange(containerPart);
  } catch {
    throw new BadRequest(`Invalid containerPort: ${containerPart}`);
  }
  if (cStart === 0) throw new BadRequest(`Invalid containerPort: ${containerPart}`);
  const big = rangeTooBig(cStart, cEnd);
  if (big) throw new BadRequest(`Invalid containerPort: ${containerPart}: ${big}`);
  let hStart = 0;
  let hEnd = 0;
  if (hostPart !== '') {
    try {
      [hStart, hEnd] = parsePortRange(hostPart);
    } catch {
      throw new BadRequest(`Invalid hostPort: ${hostPart}`);
    }
    // A host range with a single container port is the range to pick one free port from;
    // otherwise both ranges must have the same length.
    if (hEnd - hStart !== cEnd - cStart && cEnd !== cStart) {
      throw new BadRequest(`Invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
    }
    if (hStart === 0 && hEnd !== 0) throw new BadRequest(`Invalid hostPort: ${hostPart}`);
  }
  const proto = checkProto(protoText);
  return {
    hostIp: ip as Ipv4 | '', // checked above: '' or an IPv4 address
    hostPortStart: hStart,
    hostPortEnd: hEnd,
    containerPortStart: cStart,
    containerPortEnd: cEnd,
    proto,
  };
}

/** Parses every -p value; exact duplicates are kept once. */
export function parsePortSpecs(raws: readonly string[]): PortRequest[] {
  const out: PortRequest[] = [];
  const seen = new Set<string>();
  for (const raw of raws) {
    const r = parsePortSpec(raw);
    const key = formatPortRequest(r);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(r);
    }
  }
  return out;
}

/** Parses one --expose value ("80", "53/udp", "8000-8002") into its ports. */
export function parseExpose(raw: string): ExposedPort[] {
  const [protoText, portPart] = splitProtoPort(raw.trim());
  let start: number;
  let end: number;
  try {
    [start, end] = parsePortRange(portPart);
  } catch (err) {
    throw new BadRequest(`invalid range format for --expose: ${raw}, error: ${(err as Error).message}`);
  }
  if (start === 0) throw new BadRequest(`invalid range format for --expose: ${raw}, error: port 0 cannot be exposed`);
  const big = rangeTooBig(start, end);
  if (big) throw new BadRequest(`invalid range format for --expose: ${raw}, error: ${big}`);
  const proto = checkProto(protoText);
  const out: ExposedPort[] = [];
  for (let p = start; p <= end; p++) out.push({ port: p, proto });
  return out;
}

/** Parses every --expose value, plus the container side of every -p (Docker exposes those too). */
export function exposedPorts(exposeRaws: readonly string[], requests: readonly PortRequest[] = []): ExposedPort[] {
  const all: ExposedPort[] = exposeRaws.flatMap(parseExpose);
  for (const r of requests) {
    for (let p = r.containerPortStart; p <= r.containerPortEnd; p++) all.push({ port: p, proto: r.proto });
  }
  return uniqueExposed(all);
}

/** Sorted (by port, then protocol) and without duplicates. */
export function uniqueExposed(ports: readonly ExposedPort[]): ExposedPort[] {
  const seen = new Map<string, ExposedPort>();
  for (const p of ports) seen.set(`${p.port}/${p.proto}`, { port: p.port, proto: p.proto });
  return [...seen.values()].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}

/** The -p text of a request, e.g. "127.0.0.1:8000-8001:80-81/udp". */
export function formatPortRequest(r: PortRequest): string {
  const range = (a: number, b: number): string => (a === b ? `${a}` : `${a}-${b}`);
  const host = r.hostPortStart === 0 ? '' : range(r.hostPortStart, r.hostPortEnd);
  const container = `${range(r.containerPortStart, r.containerPortEnd)}/${r.proto}`;
  if (r.hostIp !== '') return `${r.hostIp}:${host}:${container}`;
  return host === '' ? container : `${host}:${container}`;
}
