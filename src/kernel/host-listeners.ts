// Sockets bound on the host, from /proc/net/{tcp,tcp6,udp,udp6} of the reading process's network
// namespace (berthd's), and the kernel's ephemeral port range. Parsing is pure; reading is thin.
import { ANY_IPV4 } from '../model/net-values.js';
import type { Ipv4 } from '../model/types.js';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import type { HostListener, PortRange } from '../ipam/host-ports.js';
import { DEFAULT_EPHEMERAL } from '../ipam/host-ports.js';
import type { PortProto } from '../model/types.js';
import { isIpv4 } from '../model/ip-literal.js';
import { listenersOps } from '../plan/link-plan.js';
import type { NetlinkHelper } from './netlink-helper.js';

const TCP_LISTEN = '0A';

/** One 32-bit word of /proc/net's hex address, as the kernel printed it (host byte order). */
function wordBytes(hex: string, little: boolean): number[] {
  const b = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return little ? b.reverse() : b;
}

/**
 * The IPv4 address a /proc/net address stands for, as far as IPv4 bindings are concerned:
 * "0.0.0.0" for the IPv4 or IPv6 wildcard, the address for IPv4 and IPv4-mapped IPv6 addresses,
 * undefined for any other IPv6 address (it cannot clash with an IPv4 binding).
 */
export function procAddrToIpv4(hex: string, little = endianness() === 'LE'): Ipv4 | undefined {
  if (hex.length === 8) return wordBytes(hex, little).join('.') as Ipv4;
  if (hex.length !== 32) return undefined;
  const bytes = [0, 8, 16, 24].flatMap((i) => wordBytes(hex.slice(i, i + 8), little));
  if (bytes.every((b) => b === 0)) return ANY_IPV4;
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? (bytes.slice(12).join('.') as Ipv4) : undefined;
}

/** Parses one /proc/net/{tcp,udp}[6] file: listening TCP sockets, every bound UDP socket. */
export function parseProcNet(text: string, proto: PortProto, little = endianness() === 'LE'): HostListener[] {
  const out: HostListener[] = [];
  const seen = new Set<string>(); // a port shared by many sockets (SO_REUSEPORT) is one listener
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const state = f[3];
    if (!local || !state) continue;
    if (proto === 'tcp' && state !== TCP_LISTEN) continue;
    const [addrHex, portHex] = local.split(':');
    if (!addrHex || !portHex) continue;
    const port = parseInt(portHex, 16);
    const ip = procAddrToIpv4(addrHex, little);
    if (ip === undefined || !(port > 0)) continue;
    const key = `${ip}:${port}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ proto, ip, port });
    }
  }
  return out;
}

/** Reads the sockets bound in the caller's namespace (procNetDir: e.g. /proc/PID/net for another one). */
export async function readHostListeners(procNetDir = '/proc/net'): Promise<HostListener[]> {
  const files: Array<[string, PortProto]> = [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']];
  // Not readFileSync: the kernel builds these files by walking the machine's socket tables
  // (every namespace's), which takes tens of ms on a busy host, and berthd's event loop also
  // answers DNS. Thread-pool reads, all four at once, cost a round trip, not a stall.
  const texts = await Promise.all(
    files.map(([file]) => readFile(`${procNetDir}/${file}`, 'utf8').catch(() => undefined)), // no IPv6 in this kernel, say
  );
  return files.flatMap(([, proto], i) => (texts[i] === undefined ? [] : parseProcNet(texts[i], proto)));
}

/** Parses ip_local_port_range ("32768\t60999"). */
export function parseEphemeralRange(text: string): PortRange {
  const [a, b] = text.trim().split(/\s+/).map(Number);
  if (a === undefined || b === undefined || !(a >= 1 && b <= 65535 && a <= b)) return DEFAULT_EPHEMERAL;
  return { start: a, end: b };
}

export async function readEphemeralRange(path = '/proc/sys/net/ipv4/ip_local_port_range'): Promise<PortRange> {
  try {
    // Synchronous: a one-line /proc file read in microseconds, where readFile's four thread-pool
    // round trips cost a millisecond or more on a busy host (on every start that publishes).
    return parseEphemeralRange(readFileSync(path, 'utf8'));
  } catch {
    return DEFAULT_EPHEMERAL;
  }
}

/**
 * readHostListeners for berthd's own namespace through the netlink helper (sock_diag): the same
 * sockets, but the kernel walks only its listening and UDP tables, where /proc/net/tcp walks every
 * connection of every namespace (260 ms on a busy host here, on each start that publishes a port).
 */
export async function readHostListenersVia(helper: NetlinkHelper): Promise<HostListener[]> {
  const words = (await helper.run(listenersOps())).split(' ').filter((w) => w !== '');
  const out: HostListener[] = [];
  const seen = new Set<string>();
  for (let i = 0; i + 2 < words.length; i += 3) {
    const [proto, ip, portText] = [words[i]!, words[i + 1]!, words[i + 2]!];
    const port = Number(portText);
    if ((proto !== 'tcp' && proto !== 'udp') || !isIpv4(ip) || !(port > 0 && port < 65536)) continue;
    const key = `${proto} ${ip}:${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ proto, ip: ip as Ipv4, port });
  }
  return out;
}
