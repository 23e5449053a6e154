// Image references as Docker normalises them: "busybox", "docker.io/library/busybox:latest" and
// "busybox:latest" are one name. Pure.
import { BadRequest } from '../model/errors.js';

const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** "docker.io/library/x" -> "x"; "docker.io/u/x" -> "u/x"; other registries stay. */
export function familiarName(name: string): string {
  let n = name;
  for (const p of ['docker.io/', 'index.docker.io/', 'registry-1.docker.io/']) if (n.startsWith(p)) n = n.slice(p.length);
  if (n.startsWith('library/')) n = n.slice('library/'.length);
  return n;
}

/** Splits "name[:tag]" (a port in a registry host is not a tag). */
export function splitRef(ref: string): { name: string; tag: string | undefined } {
  const at = ref.indexOf('@');
  const base = at >= 0 ? ref.slice(0, at) : ref;
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/')) return { name: base.slice(0, colon), tag: base.slice(colon + 1) };
  return { name: base, tag: undefined };
}

/** "name:tag" in familiar form, tag "latest" when none; refuses what Docker refuses. */
export function normalizeRef(ref: string, tag?: string): string {
  const s = splitRef(ref);
  const name = familiarName(s.name);
  const t = tag || s.tag || 'latest';
  const host = name.includes('/') && /[.:]|^localhost$/.test(name.split('/')[0]!) ? name.split('/')[0]! + '/' : '';
  const path = host ? name.slice(host.length) : name;
  if (!NAME.test(path)) throw new BadRequest(`invalid reference format: repository name (${name}) must be lowercase`);
  if (!TAG.test(t)) throw new BadRequest(`invalid reference format: tag "${t}" is not valid`);
  return `${name}:${t}`;
}
