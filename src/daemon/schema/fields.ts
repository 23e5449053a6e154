// Field schemas shared by the API routes: strings that may reach a file, a script or a log, and
// the bridge from berth's parse functions (src/model) into zod. Every value a handler sees has
// been through one of these.
import { z } from 'zod';
import { BerthError } from '../../model/errors.js';
import { VERBATIM } from './issues.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A string without control characters (names, domains, addresses, paths, references). */
export function text(max = 4096) {
  return z.string().max(max).refine((s) => !CONTROL.test(s), { message: 'control characters are not allowed', abort: true });
}

/** A command argument or environment entry: anything execve can take (no NUL). */
export const argText = z
  .string()
  .max(128 * 1024)
  .refine((s) => !s.includes('\u0000'), { message: 'NUL characters are not allowed', abort: true });

/**
 * Runs a model parse function on an already type-checked value; its BadRequest becomes a schema
 * issue with the function's own (Docker) message. The output is the function's result.
 */
export function parsed<I extends z.ZodType, O>(input: I, fn: (v: z.output<I>) => O) {
  return input.transform((v, ctx) => {
    try {
      return fn(v);
    } catch (err) {
      if (!(err instanceof BerthError) || err.status !== 400) throw err;
      ctx.issues.push({ code: 'custom', message: err.message, input: v, params: VERBATIM });
      return z.NEVER;
    }
  });
}

/** A text field parsed by fn; "" (as Docker clients send for "not set") becomes undefined. */
export function optionalParsed<O>(fn: (v: string) => O, max = 4096) {
  return parsed(text(max).optional(), (v) => (v === undefined || v === '' ? undefined : fn(v)));
}

/** An array that Docker clients may send as null; null and absent are []. */
export function list<T extends z.ZodType>(item: T, max = 1000) {
  return z
    .array(item)
    .max(max)
    .nullish()
    .transform((v) => v ?? []);
}

/** A string-to-string map (options, labels); null and absent are {}. */
export function textMap(max = 1000) {
  return z
    .record(text(1024), text(4096))
    .nullish()
    .transform((v) => v ?? {})
    .refine((v) => Object.keys(v).length <= max, { message: `more than ${max} entries` });
}

/** A sandbox or network reference: name, id or id prefix. */
export const ref = text(256).min(1);

/** Query booleans as Docker reads them (1/true/yes and 0/false/no/none, any case; absent = false). */
export const queryBool = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const t = (v ?? '').toLowerCase();
    if (['', '0', 'false', 'no', 'none'].includes(t)) return false;
    if (['1', 'true', 'yes'].includes(t)) return true;
    ctx.issues.push({ code: 'custom', message: 'expected 1, true, 0 or false', input: v });
    return z.NEVER;
  });

/** A whole number of seconds in a query (largest a Node timer can wait). */
export function querySeconds(dflt: number) {
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return dflt;
      const n = Number(v);
      if (!/^\d{1,7}$/.test(v) || n > 2147483) {
        ctx.issues.push({ code: 'custom', message: 'give whole seconds from 0 to 2147483', input: v });
        return z.NEVER;
      }
      return n;
    });
}

/** Object members that are null, at any depth, removed: Go's decoder reads null as "not set". */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]));
  return v;
}

/**
 * A request body as Docker reads it: docker-py (compose) sends null for every unset field.
 * nestedOnly keeps the top level's nulls, so a required field sent as null is named as such.
 */
export function goBody<T extends z.ZodType>(schema: T, nestedOnly = false) {
  const pre = (v: unknown) =>
    nestedOnly && v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === null ? x : dropNulls(x)])) : dropNulls(v);
  return z.preprocess(pre, schema);
}
