// How a schema failure reads: Docker's {"message": ...} text naming the field to fix.
import type { z } from 'zod';

/** Marks a custom issue whose message is complete as it is (Docker's own text from a parse function). */
export const VERBATIM = { verbatim: true } as const;

function article(kind: string): string {
  return /^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`;
}

/** "HostConfig.DnsSearch[0]", "IPAM.Config[0].Subnet". */
export function fieldName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    // A client's own keys (labels, options) are quoted unless plain, so a message stays one line.
    else if (/^[A-Za-z0-9_./-]+$/.test(String(p))) out += `${out ? '.' : ''}${String(p)}`;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return 'a string';
  return typeof v === 'undefined' ? 'nothing' : article(typeof v);
}

function what(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${article(issue.expected)}, got ${typeOf(issue.input)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
      return issue.origin === 'string' ? `longer than ${String(issue.maximum)} characters` : issue.origin === 'array' ? `more than ${String(issue.maximum)} items` : `larger than ${String(issue.maximum)}`;
    case 'too_small':
      return issue.origin === 'string' ? (issue.minimum === 1 ? 'must not be empty' : `shorter than ${String(issue.minimum)} characters`) : `smaller than ${String(issue.minimum)}`;
    case 'invalid_key':
      return `key ${JSON.stringify(issue.input)}: ${issue.issues[0]?.message ?? 'not allowed'}`;
    case 'unrecognized_keys':
      return `unknown field ${issue.keys.join(', ')}`;
    default:
      return issue.message;
  }
}

/** The message for the first issue; kind is '' (body), 'path parameter' or 'query parameter'. */
export function describeIssue(issue: z.core.$ZodIssue, kind: string): string {
  if (issue.code === 'custom' && (issue.params as { verbatim?: boolean } | undefined)?.verbatim) return issue.message;
  // A bad key is named by the map that holds it, the key itself in the text.
  const field = fieldName(issue.code === 'invalid_key' ? issue.path.slice(0, -1) : issue.path);
  const name = kind ? `${kind} ${field}` : field || 'request body';
  return `invalid ${name}: ${what(issue)}`;
}
