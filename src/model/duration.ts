// Durations in Go's time.ParseDuration form ("30s", "5m", "60000ms", "1m30s"), the form Consul's
// API takes for ?wait= and for check Interval/Timeout. Pure.
import { BadRequest } from './errors.js';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Milliseconds of a Go duration, or undefined when the text is not one. "0" is 0. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (!text) return undefined;
  let ms = 0;
  PART.lastIndex = 0;
  let off = 0;
  while (off < text.length) {
    PART.lastIndex = off;
    const m = PART.exec(text);
    if (!m) return undefined;
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    off = PART.lastIndex;
  }
  return Number.isFinite(ms) ? ms : undefined;
}

/** Like parseGoDuration, throwing a 400 that names the field. */
export function durationMs(text: string, what: string): number {
  const ms = parseGoDuration(text);
  if (ms === undefined) throw new BadRequest(`invalid ${what} "${text}": give a duration such as 10s, 1m or 500ms`);
  return ms;
}

/** A duration in Go's notation for output ("10s", "1m30s", "250ms"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}
