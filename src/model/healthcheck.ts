// Health check settings (Docker's HEALTHCHECK, plus berth's process-free TCP and HTTP checks) and
// the pure rules of its state machine. No I/O: the checker in src/services runs the probes.
import { BadRequest } from './errors.js';

/**
 * What to probe, in Docker's API shape (`Healthcheck.Test`):
 * ["CMD-SHELL", "cmd"], ["CMD", argv...], ["NONE"], and berth's ["TCP", "PORT"], ["HTTP", "PORT/PATH"].
 */
export type HealthTest = string[];

export interface Healthcheck {
  test: HealthTest;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface HealthResult {
  /** RFC 3339 times, as Docker's Log entries. */
  start: string;
  end: string;
  exitCode: number;
  output: string;
}

export interface HealthState {
  status: HealthStatus;
  failingStreak: number;
  /** The last results, newest last (at most LOG_KEEP). */
  log: HealthResult[];
}

/** Docker's defaults: interval 30 s, timeout 30 s, 3 retries, no start period. */
export const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 } as const;
/** Docker keeps the last 5 results and 4096 bytes of output per result. */
export const LOG_KEEP = 5;
export const OUTPUT_MAX = 4096;

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("30s", "1m30s", "500ms") in milliseconds; the flag name goes into the error. */
export function parseDuration(text: string, flag: string): number {
  const t = text.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (t === '' || pos !== t.length) throw new BadRequest(`invalid argument "${text}" for "${flag}" flag: give a duration such as 5s, 500ms or 1m30s`);
  return Math.round(total);
}

/** Milliseconds in the shortest Go-like form ("1m30s", "500ms"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 1000 !== 0) return `${ms}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

/** "PORT/PATH" of --health-http, e.g. "8080/healthz". */
export function parseHttpTarget(text: string): { port: number; path: string } {
  const m = /^(\d{1,5})(\/[\x21-\x7e]*)?$/.exec(text);
  const port = m ? Number(m[1]) : 0;
  if (!m || port < 1 || port > 65535) throw new BadRequest(`invalid --health-http "${text}": give PORT/PATH, e.g. 8080/healthz`);
  return { port, path: m[2] ?? '/' };
}

export function parseTcpTarget(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : 0;
  if (port < 1 || port > 65535) throw new BadRequest(`invalid --health-tcp "${text}": give a port from 1 to 65535`);
  return port;
}

const NS_PER_MS = 1_000_000;

function nsField(raw: Record<string, unknown>, key: string, flag: string): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null || v === 0) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new BadRequest(`invalid Healthcheck.${key}: give whole nanoseconds (${flag})`);
  if (v < NS_PER_MS) throw new BadRequest(`${flag} must be at least 1ms`);
  return Math.round(v / NS_PER_MS);
}

/**
 * Docker's `Healthcheck` object of a create request, checked. undefined: no check (absent, or
 * ["NONE"]). Durations are nanoseconds as in Docker's API; 0 or absent means the default.
 */
export function healthcheckFromApi(raw: unknown): Healthcheck | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequest('invalid Healthcheck: expected an object');
  const r = raw as Record<string, unknown>;
  const test = r['Test'];
  if (!Array.isArray(test) || test.length === 0 || !test.every((t) => typeof t === 'string')) {
    throw new BadRequest('invalid Healthcheck.Test: give ["CMD-SHELL", "command"], ["CMD", ...], ["TCP", "PORT"], ["HTTP", "PORT/PATH"] or ["NONE"]');
  }
  const [kind, ...args] = test as string[];
  switch (kind) {
    case 'NONE':
      return undefined;
    case 'CMD-SHELL':
      if (args.length !== 1 || !args[0]) throw new BadRequest('Healthcheck.Test ["CMD-SHELL", ...] takes exactly one command string');
      break;
    case 'CMD':
      if (args.length === 0 || !args[0]) throw new BadRequest('Healthcheck.Test ["CMD", ...] needs a command');
      break;
    case 'TCP':
      if (args.length !== 1) throw new BadRequest('Healthcheck.Test ["TCP", "PORT"] takes one port');
      parseTcpTarget(args[0]!);
      break;
    case 'HTTP':
      if (args.length !== 1) throw new BadRequest('Healthcheck.Test ["HTTP", "PORT/PATH"] takes one target');
      parseHttpTarget(args[0]!);
      break;
    default:
      throw new BadRequest(`invalid Healthcheck.Test kind "${kind}": use CMD-SHELL, CMD, TCP, HTTP or NONE`);
  }
  const retries = r['Retries'];
  if (retries !== undefined && retries !== null && (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0)) {
    throw new BadRequest('--health-retries cannot be negative');
  }
  return {
    test: [kind, ...args],
    intervalMs: nsField(r, 'Interval', '--health-interval') ?? HEALTH_DEFAULTS.intervalMs,
    timeoutMs: nsField(r, 'Timeout', '--health-timeout') ?? HEALTH_DEFAULTS.timeoutMs,
    retries: typeof retries === 'number' && retries > 0 ? retries : HEALTH_DEFAULTS.retries,
    startPeriodMs: nsField(r, 'StartPeriod', '--health-start-period') ?? HEALTH_DEFAULTS.startPeriodMs,
  };
}

/** Back to Docker's API shape (inspect's Config.Healthcheck). */
export function healthcheckToApi(h: Healthcheck): Record<string, unknown> {
  return { Test: h.test, Interval: h.intervalMs * NS_PER_MS, Timeout: h.timeoutMs * NS_PER_MS, Retries: h.retries, StartPeriod: h.startPeriodMs * NS_PER_MS };
}

export interface HealthFlags {
  healthCmd?: string;
  healthTcp?: string;
  healthHttp?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  healthcheck?: boolean; // commander's --no-healthcheck sets this to false
}

/** The CLI's health flags as Docker's Healthcheck object (undefined: none given). */
export function healthFlagsToApi(o: HealthFlags): Record<string, unknown> | undefined {
  const probes = [o.healthCmd, o.healthTcp, o.healthHttp].filter((x) => x !== undefined);
  const tuning = [o.healthInterval, o.healthTimeout, o.healthRetries, o.healthStartPeriod].some((x) => x !== undefined);
  if (o.healthcheck === false) {
    if (probes.length || tuning) throw new BadRequest('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (probes.length > 1) throw new BadRequest('give only one of --health-cmd, --health-tcp and --health-http');
  if (probes.length === 0) {
    if (tuning) throw new BadRequest('--health-interval, --health-timeout, --health-retries and --health-start-period need --health-cmd, --health-tcp or --health-http');
    return undefined;
  }
  const test = o.healthCmd !== undefined ? ['CMD-SHELL', o.healthCmd] : o.healthTcp !== undefined ? ['TCP', String(parseTcpTarget(o.healthTcp))] : ['HTTP', o.healthHttp!];
  if (test[0] === 'HTTP') parseHttpTarget(test[1]!);
  const ns = (v: string | undefined, flag: string) => (v === undefined ? 0 : parseDuration(v, flag) * NS_PER_MS);
  let retries = 0;
  if (o.healthRetries !== undefined) {
    if (!/^\d+$/.test(o.healthRetries)) throw new BadRequest(`invalid argument "${o.healthRetries}" for "--health-retries" flag: give a whole number`);
    retries = Number(o.healthRetries);
  }
  return {
    Test: test,
    Interval: ns(o.healthInterval, '--health-interval'),
    Timeout: ns(o.healthTimeout, '--health-timeout'),
    Retries: retries,
    StartPeriod: ns(o.healthStartPeriod, '--health-start-period'),
  };
}

/**
 * The next health state after one probe result (Docker's rules): success makes it healthy and
 * resets the streak; a failure inside the start period while still starting is not counted;
 * otherwise the streak grows and reaching `retries` makes it unhealthy.
 */
export function nextHealth(prev: HealthState, h: Healthcheck, result: HealthResult, startedAtMs: number): HealthState {
  const log = [...prev.log, result].slice(-LOG_KEEP);
  if (result.exitCode === 0) return { status: 'healthy', failingStreak: 0, log };
  const inStart = Date.parse(result.start) - startedAtMs < h.startPeriodMs;
  if (inStart && prev.status === 'starting') return { status: 'starting', failingStreak: prev.failingStreak, log };
  const failingStreak = prev.failingStreak + 1;
  return { status: failingStreak >= h.retries ? 'unhealthy' : prev.status, failingStreak, log };
}

export function initialHealth(): HealthState {
  return { status: 'starting', failingStreak: 0, log: [] };
}
