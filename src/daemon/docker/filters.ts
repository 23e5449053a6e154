// The `filters` query parameter of list routes: Go clients send {"label":{"a=b":true}},
// docker-py and dockerode {"label":["a=b"]}; both mean the same.
import { BadRequest } from '../../model/errors.js';
import type { SandboxRecord } from '../../model/types.js';

export type Filters = Record<string, string[]>;

export function parseFilters(text: string | undefined): Filters {
  if (!text) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new BadRequest('invalid filter: the filters parameter is not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new BadRequest('invalid filter: expected an object of filter names');
  const out: Filters = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(val) && val.every((x) => typeof x === 'string')) out[k] = val as string[];
    else if (val && typeof val === 'object') out[k] = Object.keys(val as object);
    else throw new BadRequest(`invalid filter '${k}': expected a list of values`);
  }
  return out;
}

const CONTAINER_FILTERS = ['label', 'name', 'id', 'status', 'network', 'ancestor'];

/** A label filter: `k` (present) or `k=v`. */
export function labelMatches(labels: Record<string, string>, f: string): boolean {
  const i = f.indexOf('=');
  if (i < 0) return f in labels;
  return labels[f.slice(0, i)] === f.slice(i + 1);
}

/** Every filter name must match (values of one name: any of them; labels: all of them). */
export function sandboxMatches(sb: SandboxRecord, f: Filters): boolean {
  for (const k of Object.keys(f)) if (!CONTAINER_FILTERS.includes(k)) throw new BadRequest(`invalid filter '${k}'`);
  const labels = sb.config.labels ?? {};
  if (f.label && !f.label.every((l) => labelMatches(labels, l))) return false;
  if (f.name?.length && !f.name.some((n) => sb.name.includes(n.replace(/^\//, '')))) return false;
  if (f.id?.length && !f.id.some((i) => sb.id.startsWith(i))) return false;
  if (f.status?.length && !f.status.some((s) => s === sb.state.status)) return false;
  if (f.ancestor?.length && !f.ancestor.some((a) => sb.config.image && (sb.config.image.name === a || sb.config.image.id.includes(a)))) return false;
  return true;
}
