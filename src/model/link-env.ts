// The environment variables Docker gives a sandbox for each --link on the default bridge
// (moby daemon/links/links.go, Link.ToEnv), reproduced exactly. Pure.
//
//   --link web:webalias, web at 172.17.0.2 exposing 80/tcp and 53/udp, web's env FOO=bar:
//   WEBALIAS_PORT=udp://172.17.0.2:53            (the lowest port; tcp first on a tie)
//   WEBALIAS_PORT_53_UDP=udp://172.17.0.2:53, ..._ADDR, ..._PORT, ..._PROTO (per port)
//   WEBALIAS_NAME=/client/webalias
//   WEBALIAS_ENV_FOO=bar                          (HOME and PATH skipped)
// Contiguous port runs also get _START/_END variables (Docker's ranges).
import type { ExposedPort, Ipv4 } from './types.js';

export interface LinkEnvInput {
  /** The linking sandbox's name, without a leading '/'. */
  parentName: string;
  /** The alias given in --link NAME:ALIAS (the name when no alias was given). */
  alias: string;
  /** The linked sandbox's address on the default bridge. */
  childIp: Ipv4;
  /** The linked sandbox's exposed ports (--expose and the container side of -p). */
  childPorts: readonly ExposedPort[];
  /** The linked sandbox's own environment (KEY=VALUE). */
  childEnv: readonly string[];
}

/** Docker's sort: by number; on the same number tcp first (its comparator is not a strict order; this is its intent). */
function sortPorts(ports: readonly ExposedPort[]): ExposedPort[] {
  const seen = new Set<string>();
  const uniq = ports.filter((p) => {
    const k = `${p.port}/${p.proto}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return uniq.sort((a, b) => a.port - b.port || (a.proto === b.proto ? 0 : a.proto === 'tcp' ? -1 : 1));
}

/** moby's nextContiguous, including its quirk of counting a tcp/udp pair of one number as a step. */
function nextContiguous(ports: readonly ExposedPort[], value: number, index: number): number {
  if (index + 1 === ports.length) return index;
  for (let i = index + 1; i < ports.length; i++) {
    if (ports[i]!.port > value + 1) return i - 1;
    value++;
  }
  return ports.length - 1;
}

export function linkEnv(l: LinkEnvInput): string[] {
  const alias = l.alias.toUpperCase().replaceAll('-', '_');
  const ip = l.childIp;
  const ports = sortPorts(l.childPorts);
  const env: string[] = [];
  const first = ports[0];
  if (first) env.push(`${alias}_PORT=${first.proto}://${ip}:${first.port}`);

  for (let i = 0; i < ports.length; ) {
    const p = ports[i]!;
    const j = nextContiguous(ports, p.port, i);
    if (j > i + 1) {
      const P = p.proto.toUpperCase();
      const q = ports[j]!;
      const Q = q.proto.toUpperCase();
      env.push(`${alias}_PORT_${p.port}_${P}_START=${p.proto}://${ip}:${p.port}`);
      env.push(`${alias}_PORT_${p.port}_${P}_ADDR=${ip}`);
      env.push(`${alias}_PORT_${p.port}_${P}_PROTO=${p.proto}`);
      env.push(`${alias}_PORT_${p.port}_${P}_PORT_START=${p.port}`);
      env.push(`${alias}_PORT_${p.port}_${Q}_END=${q.proto}://${ip}:${q.port}`);
      env.push(`${alias}_PORT_${p.port}_${Q}_PORT_END=${q.port}`);
      i = j + 1;
    } else {
      i++;
    }
  }

  for (const p of ports) {
    const P = p.proto.toUpperCase();
    env.push(`${alias}_PORT_${p.port}_${P}=${p.proto}://${ip}:${p.port}`);
    env.push(`${alias}_PORT_${p.port}_${P}_ADDR=${ip}`);
    env.push(`${alias}_PORT_${p.port}_${P}_PORT=${p.port}`);
    env.push(`${alias}_PORT_${p.port}_${P}_PROTO=${p.proto}`);
  }

  env.push(`${alias}_NAME=/${l.parentName.replace(/^\//, '')}/${l.alias}`);

  for (const v of l.childEnv) {
    const eq = v.indexOf('=');
    if (eq < 0) continue;
    const name = v.slice(0, eq);
    if (name === 'HOME' || name === 'PATH') continue;
    env.push(`${alias}_ENV_${name}=${v.slice(eq + 1)}`);
  }
  return env;
}
