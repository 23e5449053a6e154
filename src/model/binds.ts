// `-v SRC:DST[:OPTS]` (HostConfig.Binds) and Mounts of type bind/volume, as Docker reads them.
// A SRC that is not an absolute path names a volume: a directory berth owns. Pure.
import { BadRequest } from './errors.js';

export interface BindRequest {
  /** Absolute host path, or '' for a named volume. */
  source: string;
  /** The named volume, when source is ''. */
  volume: string;
  target: string;
  readOnly: boolean;
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

function checkTarget(t: string): string {
  if (!t.startsWith('/')) throw new BadRequest(`invalid mount config: mount path must be absolute: "${t}"`);
  if (t === '/') throw new BadRequest('invalid specification: destination can\'t be \'/\'');
  if (t.split('/').includes('..')) throw new BadRequest(`invalid mount config: mount path "${t}" must not contain ".."`);
  return t;
}

function sourceOf(src: string): { source: string; volume: string } {
  if (src.startsWith('/')) {
    if (src.split('/').includes('..')) throw new BadRequest(`invalid mount config: source "${src}" must not contain ".."`);
    return { source: src, volume: '' };
  }
  if (!VOLUME_NAME.test(src)) throw new BadRequest(`create ${src}: "${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  return { source: '', volume: src };
}

export function parseBind(spec: string): BindRequest {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw new BadRequest(`invalid volume specification: '${spec}': give SRC:DST[:ro|rw]`);
  const opts = (parts[2] ?? '').split(',').filter(Boolean);
  for (const o of opts) if (!['ro', 'rw', 'z', 'Z', 'rprivate', 'private', 'rslave', 'slave', 'rshared', 'shared', 'nocopy'].includes(o)) throw new BadRequest(`invalid mode: ${o}`);
  return { ...sourceOf(parts[0]), target: checkTarget(parts[1]), readOnly: opts.includes('ro') };
}

export function parseMount(m: { Type: string; Source: string; Target: string; ReadOnly: boolean }): BindRequest {
  if (m.Type !== 'bind' && m.Type !== 'volume') throw new BadRequest(`invalid mount config for type "${m.Type}": berth supports bind and volume mounts`);
  if (m.Type === 'bind' && !m.Source.startsWith('/')) throw new BadRequest(`invalid mount config for type "bind": invalid mount path: '${m.Source}' mount path must be absolute`);
  return { ...sourceOf(m.Source), target: checkTarget(m.Target), readOnly: m.ReadOnly };
}
