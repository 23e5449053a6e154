// Validation of names that users type and names that reach the kernel.
import { BadRequest } from './errors.js';
import type { DomainName } from './types.js';

/** Docker's rule for container and network names. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** A DNS label-ish alias: what may become a name in DNS and /etc/hosts. */
const ALIAS_RE = /^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,252})$/;

/** Container and network names: also safe as a name in /etc/hosts and DNS. */
export function validateName(kind: 'container' | 'network', name: string): DomainName {
  if (!NAME_RE.test(name) || name.length > 253) {
    throw new BadRequest(`Invalid ${kind} name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name as DomainName;
}

export function validateAlias(alias: string): DomainName {
  if (!ALIAS_RE.test(alias)) throw new BadRequest(`invalid alias "${alias}": use letters, digits, '.', '-' or '_'`);
  return alias as DomainName;
}

export function validateHostname(name: string): DomainName {
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(name)) {
    throw new BadRequest(`invalid hostname "${name}": use letters, digits, '.' and '-' (at most 63)`);
  }
  return name as DomainName;
}
