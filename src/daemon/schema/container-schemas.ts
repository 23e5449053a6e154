// Schemas of the /containers routes (Docker Engine API shapes). Everything that ends up in a
// sandbox's files, scripts or rules is parsed here: hostname, DNS settings, extra hosts, port
// keys and bindings, addresses, aliases. sandbox-spec.ts then checks them against state.
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../docker/detach-keys.js';
import { z } from 'zod';
import { BadRequest } from '../../model/errors.js';
import { validateDnsOption, validateDnsSearch, validateDnsServer } from '../../model/dns-options.js';
import { parseExtraHost } from '../../model/extra-hosts.js';
import { validateHostname, validateName } from '../../model/names.js';
import { parseIpv4 } from '../../model/net-values.js';
import { portRequestsOf } from '../../model/port-requests.js';
import { parseBind, parseMount } from '../../model/binds.js';
import { healthcheckFromApi } from '../../model/healthcheck.js';
import { argText, goBody, list, optionalParsed, parsed, querySeconds, queryBool, text, textMap } from './fields.js';
import { endpointConfig } from './network-schemas.js';

export const createQuery = z.object({
  name: optionalParsed((s) => validateName('container', s.replace(/^\//, '')), 253),
});

function parseEnv(e: string): string {
  if (!/^[^=\s]+(=|$)/.test(e)) throw new BadRequest(`invalid environment variable "${e}": expected KEY=VALUE`);
  return e;
}

function parseRootfs(p: string): string {
  if (!p.startsWith('/')) throw new BadRequest(`--rootfs must be an absolute path, got "${p}"`);
  return p;
}

const portBinding = z
  .object({
    HostIp: optionalParsed((s) => parseIpv4(s, 'host IP'), 64).transform((v) => v ?? ('' as const)),
    HostPort: text(16).optional().transform((v) => v ?? ''),
  })
  .nullish()
  .transform((v) => v ?? { HostIp: '' as const, HostPort: '' });

/** A TTY's size at start, [rows, columns] (the docker CLI sends the user's terminal's); [0, 0] is none. */
const consoleSize = z
  .tuple([z.number().int().min(0).max(65535), z.number().int().min(0).max(65535)])
  .nullish()
  .transform((v) => (v && v[0] > 0 && v[1] > 0 ? { rows: v[0], cols: v[1] } : undefined));

const hostConfig = z
  .object({
    NetworkMode: text(300).optional().transform((v) => v ?? ''),
    PortBindings: z.record(text(32), z.array(portBinding).max(100).nullable()).nullish().transform((v) => v ?? {}),
    PublishAllPorts: z.boolean().optional().transform(Boolean),
    Links: list(text(600), 100),
    ExtraHosts: list(parsed(text(600), parseExtraHost), 1000),
    Dns: list(parsed(text(64), validateDnsServer), 100),
    DnsSearch: list(parsed(text(256), validateDnsSearch), 100),
    DnsOptions: list(parsed(text(256), validateDnsOption), 100),
    AutoRemove: z.boolean().nullish().transform(Boolean),
    Binds: list(parsed(text(4096), parseBind), 100),
    Mounts: list(parsed(z.object({ Type: text(16), Source: text(4096).nullish().transform((v) => v ?? ''), Target: text(4096), ReadOnly: z.boolean().nullish().transform(Boolean) }), parseMount), 100),
    RestartPolicy: z
      .object({ Name: z.enum(['', 'no', 'always', 'unless-stopped', 'on-failure']).nullish().transform((v) => v || 'no'), MaximumRetryCount: z.number().int().min(0).max(1_000_000).nullish().transform((v) => v ?? 0) })
      .nullish()
      .transform((v) => v ?? { Name: 'no' as const, MaximumRetryCount: 0 }),
    ConsoleSize: consoleSize,
  })
  .nullish()
  .transform(
    (v) =>
      v ?? { NetworkMode: '', PortBindings: {}, PublishAllPorts: false, Links: [], ExtraHosts: [], Dns: [], DnsSearch: [], DnsOptions: [], AutoRemove: false, Binds: [], Mounts: [], RestartPolicy: { Name: 'no' as const, MaximumRetryCount: 0 }, ConsoleSize: undefined },
  );

/** Docker's StrSlice: a list of strings, or one string. */
const cmd = z.union([argText.transform((s) => [s]), z.array(argText).max(10_000)]).nullish().transform((v) => v ?? []);

/** An absent or null command (use the image's) differs from an empty one. */
const optionalCmd = z.union([argText.transform((s) => [s]), z.array(argText).max(10_000)]).nullish().transform((v) => v ?? undefined);

const createSandboxFields = z.object({
  Image: text(512).optional().transform((v) => v || undefined),
  Entrypoint: optionalCmd,
  WorkingDir: text(4096).nullish().transform((v) => v ?? ''),
  Labels: textMap(),
  Tty: z.boolean().nullish().transform(Boolean),
  OpenStdin: z.boolean().nullish().transform(Boolean),
  /** user[:group], names or numbers (docker run --user). */
  User: text(256).regex(/^[^:\s]*(:[^:\s]*)?$/, 'give user[:group]').nullish().transform((v) => v ?? ''),
  Cmd: cmd,
  Env: list(parsed(argText, parseEnv), 10_000),
  Hostname: optionalParsed(validateHostname, 253).transform((v) => v ?? ''),
  ExposedPorts: z.record(text(32), z.unknown()).nullish().transform((v) => v ?? {}),
  Rootfs: optionalParsed(parseRootfs, 4096).transform((v) => v ?? ''),
  /** Docker's Healthcheck ({Test, Interval, Timeout, Retries, StartPeriod}; berth adds TCP and HTTP tests). */
  Healthcheck: parsed(z.unknown().optional(), healthcheckFromApi),
  HostConfig: hostConfig,
  NetworkingConfig: z
    .object({ EndpointsConfig: z.record(text(256), endpointConfig).nullish().transform((v) => v ?? {}) })
    .nullish()
    .transform((v) => v ?? { EndpointsConfig: {} }),
});

/** Port keys and bindings need both parts of the request: parsed together into berth's records. */
export const createSandboxBody = goBody(parsed(createSandboxFields, (b) => ({
  ...b,
  ports: portRequestsOf({ ExposedPorts: b.ExposedPorts, PortBindings: b.HostConfig.PortBindings }),
})));
export type CreateSandboxInput = z.output<typeof createSandboxBody>;

export const stopQuery = z.object({ t: querySeconds(10) });
export const removeQuery = z.object({ force: queryBool, v: queryBool, link: queryBool });
export const listQuery = z.object({ all: queryBool });
export const logsQuery = z.object({ follow: queryBool });

export const waitQuery = z.object({
  condition: z.enum(['', 'not-running', 'next-exit', 'removed']).optional().transform((v) => v || 'not-running'),
});
/** Docker's detach keys ("ctrl-p,ctrl-q" when not given), as bytes. */
const detachKeys = parsed(text(256).nullish(), (v) => parseDetachKeys(v || DEFAULT_DETACH_KEYS));
export const attachQuery = z.object({ stream: queryBool, stdout: queryBool, stderr: queryBool, stdin: queryBool, logs: queryBool, detachKeys });
/** A terminal size (docker's resize): h rows, w columns. */
const dimension = z.string().regex(/^\d{1,5}$/, 'give a number').transform(Number).refine((n) => n < 65536, 'at most 65535');
export const resizeQuery = z.object({ h: dimension, w: dimension });
export const killQuery = z.object({
  signal: text(16)
    .regex(/^(SIG)?[A-Z0-9+-]+$|^\d{1,2}$/, 'give a signal name (TERM, KILL, SIGHUP) or number')
    .optional()
    .transform((v) => v || 'KILL'),
});
export const renameQuery = z.object({ name: parsed(text(253).min(1, 'give the new name'), (s) => validateName('container', s.replace(/^\//, ''))) });
export const dockerLogsQuery = z.object({
  follow: queryBool,
  stdout: queryBool,
  stderr: queryBool,
  timestamps: queryBool,
  tail: z
    .string()
    .regex(/^(all|\d{1,9})$/, 'give a number of lines or all')
    .optional()
    .transform((v) => (v === undefined || v === 'all' ? -1 : Number(v))),
});
export const dockerListQuery = z.object({
  all: queryBool,
  limit: z.string().regex(/^-?\d{1,9}$/, 'give a number').optional().transform((v) => (v === undefined ? -1 : Number(v))),
  filters: text(65536).optional(),
});

export const execCreateBody = goBody(z.object({
  Cmd: z.array(argText).min(1, 'No exec command specified').max(10_000),
  Env: list(parsed(argText, parseEnv), 10_000),
  WorkingDir: text(4096).nullish().transform((v) => v ?? ''),
  User: text(256).nullish().transform((v) => v ?? ''),
  Tty: z.boolean().nullish().transform(Boolean),
  AttachStdin: z.boolean().nullish().transform(Boolean),
  AttachStdout: z.boolean().nullish().transform(Boolean),
  AttachStderr: z.boolean().nullish().transform(Boolean),
  Detach: z.boolean().nullish().transform(Boolean),
  Privileged: z.boolean().nullish().transform(Boolean),
  DetachKeys: detachKeys,
  ConsoleSize: consoleSize,
}));
export const execStartBody = z.object({ Detach: z.boolean().nullish().transform(Boolean), Tty: z.boolean().nullish().transform(Boolean) });
export const execParams = z.object({ id: z.string().regex(/^[0-9a-f]{64}$/, 'give an exec ID') });
