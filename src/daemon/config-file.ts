// berthd's configuration file: Docker's daemon.json keys for what berth supports, parsed by the
// same field schemas as the API. An unknown or wrongly typed key stops berthd at start, naming
// the key and the file, as dockerd does ("unable to configure the Docker daemon with file ...").
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BadRequest } from '../model/errors.js';
import { parseIpv4 } from '../model/net-values.js';
import { validateDnsSearch, validateDnsServer } from '../model/dns-options.js';
import { parseCidr } from '../ipam/ipv4.js';
import { parsePoolFlag, type AddressPool } from '../ipam/pools.js';
import { list, parsed, text } from './schema/fields.js';
import { describeIssue } from './schema/issues.js';

export const DEFAULT_CONFIG_FILE = '/etc/berth/daemon.json';

const pool = z.strictObject({ base: text(64), size: z.number().int() });

/** daemon.json as berth reads it; keys are Docker's. */
export const daemonJsonSchema = z.strictObject({
  icc: z.boolean().optional(),
  'ip-masq': z.boolean().optional(),
  iptables: z.boolean().optional(),
  bip: parsed(text(64), (v) => (parseCidr(v, 'bip'), v)).optional(),
  'fixed-cidr': parsed(text(64), (v): never => {
    throw new BadRequest(`fixed-cidr "${v}" is not supported by berth: the default bridge allocates from all of bip's subnet; remove the key`);
  }).optional(),
  'default-address-pools': list(parsed(pool, (p): AddressPool => parsePoolFlag(`base=${p.base},size=${p.size}`)), 64).optional(),
  ip: parsed(text(64), (v) => parseIpv4(v, 'ip')).optional(),
  dns: list(parsed(text(64), validateDnsServer), 16).optional(),
  'dns-search': list(parsed(text(256), validateDnsSearch), 16).optional(),
  mtu: z.number().int().min(68).max(65535).optional(),
  'data-root': text(1024).min(1).optional(),
  'exec-root': text(1024).min(1).optional(),
  'log-level': z.enum(['debug', 'info', 'warn', 'error']).optional(),
});

export type DaemonJson = z.output<typeof daemonJsonSchema>;

function fail(path: string, why: string): never {
  throw new BadRequest(`unable to configure the daemon with file ${path}: ${why}`);
}

/** Parses the text of a daemon.json; path is for the messages only. Pure. */
export function parseDaemonJson(textIn: string, path: string): DaemonJson {
  let raw: unknown;
  try {
    raw = JSON.parse(textIn);
  } catch (err) {
    fail(path, `not valid JSON: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(path, 'expected a JSON object of daemon options');
  const unknown = Object.keys(raw).filter((k) => !(k in daemonJsonSchema.shape));
  // Docker's wording for a key it does not know.
  if (unknown.length) fail(path, `the following directives don't match any configuration option: ${unknown.join(', ')}`);
  const r = daemonJsonSchema.safeParse(raw, { reportInput: true });
  if (!r.success) fail(path, describeIssue(r.error.issues[0]!, 'key'));
  return r.data;
}

/** Reads the file; a missing default file is an empty configuration, a missing named one an error. */
export function readDaemonJson(path: string, explicit: boolean): DaemonJson {
  let body: string;
  try {
    body = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return {};
    fail(path, (err as Error).message);
  }
  return parseDaemonJson(body, path);
}
