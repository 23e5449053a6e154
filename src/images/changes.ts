// `docker import --change` / `docker commit --change`: Dockerfile lines applied to an image's
// config. Only the instructions Docker allows there. Pure.
import { BadRequest } from '../model/errors.js';

export interface ImageConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Labels?: Record<string, string>;
  User?: string;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  OnBuild?: string[];
}

const ALLOWED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

/** ["a","b"] (exec form) or a shell line, which runs under /bin/sh -c as in Docker. */
function commandOf(rest: string, what: string): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      throw new BadRequest(`${what}: ${t} is not a valid JSON array`);
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new BadRequest(`${what}: expected a JSON array of strings`);
    return v as string[];
  }
  return ['/bin/sh', '-c', t];
}

/** KEY=VALUE pairs (quotes removed) or the legacy "KEY VALUE" form. */
function pairs(rest: string, what: string): Array<[string, string]> {
  const t = rest.trim();
  if (!/^[^=\s]+=/.test(t)) {
    const m = /^(\S+)\s+(.*)$/.exec(t);
    if (!m) throw new BadRequest(`${what} needs KEY=VALUE or KEY VALUE, got "${t}"`);
    return [[m[1]!, m[2]!]];
  }
  const out: Array<[string, string]> = [];
  const re = /([^=\s]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t))) {
    let v = m[2]!;
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (v.startsWith("'")) v = v.slice(1, -1);
    out.push([m[1]!, v]);
  }
  if (!out.length) throw new BadRequest(`${what} needs KEY=VALUE, got "${t}"`);
  return out;
}

/** Applies the lines in order to a copy of cfg. */
export function applyChanges(cfg: ImageConfig, lines: readonly string[]): ImageConfig {
  const out: ImageConfig = structuredClone(cfg);
  for (const line of lines) {
    const t = line.trim();
    if (!t) continue;
    const m = /^(\S+)\s*(.*)$/s.exec(t)!;
    const word = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (!ALLOWED.includes(word)) throw new BadRequest(`${m[1]} is not a valid change command`);
    switch (word) {
      case 'CMD':
        out.Cmd = commandOf(rest, 'CMD');
        break;
      case 'ENTRYPOINT':
        out.Entrypoint = commandOf(rest, 'ENTRYPOINT');
        break;
      case 'ENV': {
        const env = [...(out.Env ?? [])];
        for (const [k, v] of pairs(rest, 'ENV')) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out.Env = env;
        break;
      }
      case 'LABEL':
        out.Labels = { ...(out.Labels ?? {}), ...Object.fromEntries(pairs(rest, 'LABEL')) };
        break;
      case 'EXPOSE':
        for (const p of rest.trim().split(/\s+/).filter(Boolean)) {
          const pm = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(p);
          if (!pm || Number(pm[1]) < 1 || Number(pm[1]) > 65535) throw new BadRequest(`EXPOSE: invalid port "${p}"`);
          out.ExposedPorts = { ...(out.ExposedPorts ?? {}), [`${Number(pm[1])}/${(pm[2] ?? 'tcp').toLowerCase()}`]: {} };
        }
        break;
      case 'WORKDIR': {
        const d = rest.trim();
        if (!d) throw new BadRequest('WORKDIR needs a path');
        out.WorkingDir = d.startsWith('/') ? d : `${(out.WorkingDir ?? '/').replace(/\/$/, '')}/${d}`;
        break;
      }
      case 'USER':
        out.User = rest.trim();
        break;
      case 'STOPSIGNAL':
        out.StopSignal = rest.trim();
        break;
      case 'VOLUME': {
        const t2 = rest.trim();
        const vols = t2.startsWith('[') ? commandOf(t2, 'VOLUME') : t2.split(/\s+/);
        out.Volumes = { ...(out.Volumes ?? {}), ...Object.fromEntries(vols.map((v) => [v, {}])) };
        break;
      }
      case 'ONBUILD':
        out.OnBuild = [...(out.OnBuild ?? []), rest.trim()];
        break;
    }
  }
  return out;
}
