// Schemas of the /lbs routes (berth lb). Text limits and structure here; the meaning (routes,
// checks, stats paths, the port pair) is parsed by src/lb/spec.ts, whose messages name the flag.
import { z } from 'zod';
import { BadRequest } from '../../model/errors.js';
import { parseCheck, parseRoute, parseSlots, parseStatsAuth, parseStatsUri, parseTarget } from '../../lb/spec.js';
import { list, optionalParsed, parsed, text } from './fields.js';

const LB_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

export const lbName = parsed(text(64), (s) => {
  if (!LB_NAME_RE.test(s)) throw new BadRequest(`invalid load balancer name "${s}": use letters, digits and _.- (at most 63), starting with a letter or digit`);
  return s;
});

/** "-p PUBLISHED:PORT" (or "-p PORT" for the same on both sides). */
export function parsePublish(s: string): { published: number; port: number } {
  const m = /^(?:(\d{1,5}):)?(\d{1,5})$/.exec(s);
  const published = Number(m?.[1] ?? m?.[2]);
  const port = Number(m?.[2]);
  if (!m || published < 1 || published > 65535 || port < 1 || port > 65535) throw new BadRequest(`invalid -p "${s}": give PUBLISHED:PORT, e.g. 80:80`);
  return { published, port };
}

export const createLbBody = z.object({
  Name: lbName,
  Networks: list(text(256).min(1), 20).refine((v) => v.length > 0, { message: 'give at least one back-end network (--network NET)' }),
  Front: text(256).optional(),
  Publish: parsed(text(32), parsePublish),
  Routes: list(parsed(text(600), parseRoute), 500),
  Default: optionalParsed((s) => parseTarget(s, '--default'), 200),
  Check: optionalParsed(parseCheck, 600),
  Stats: optionalParsed(parseStatsUri, 600),
  StatsAuth: optionalParsed(parseStatsAuth, 300),
  Slots: optionalParsed(parseSlots, 16),
});
export type CreateLbInput = z.output<typeof createLbBody>;

export const lbParams = z.object({ name: text(64).min(1) });
export const lbRouteParams = z.object({ name: text(64).min(1), host: text(300).min(1) });
export const addRouteBody = z.object({ Route: parsed(text(600), parseRoute) });
