// The flags of `berth template`, parsed without I/O: --template SRC:DEST[:COMMAND],
// --wait MIN[:MAX], and COMMAND split into argv without a shell. Pure.
import { BadRequest } from '../model/errors.js';
import { parseGoDuration } from '../model/duration.js';

export interface TemplateSpec {
  source: string;
  dest: string;
  /** argv of the command run after DEST changed; empty for none. */
  command: string[];
}

export interface WaitSpec {
  minMs: number;
  maxMs: number;
}

/**
 * SRC:DEST[:COMMAND]. The first two colons separate; COMMAND may hold colons of its own
 * (consul-template's rule, so paths with colons cannot be given).
 */
export function parseTemplateSpec(text: string): TemplateSpec {
  const a = text.indexOf(':');
  const b = a < 0 ? -1 : text.indexOf(':', a + 1);
  const source = a < 0 ? text : text.slice(0, a);
  const dest = a < 0 ? '' : b < 0 ? text.slice(a + 1) : text.slice(a + 1, b);
  const cmd = b < 0 ? '' : text.slice(b + 1);
  if (!source || !dest) throw new BadRequest(`invalid --template "${text}": expected SRC:DEST[:COMMAND], e.g. haproxy.ctmpl:/etc/haproxy/haproxy.cfg:"haproxy -c -f /etc/haproxy/haproxy.cfg"`);
  return { source, dest, command: cmd.trim() ? splitCommand(cmd) : [] };
}

/** MIN or MIN:MAX (MAX defaults to 4×MIN, as consul-template). */
export function parseWait(text: string): WaitSpec {
  const [minText, maxText, ...rest] = text.split(':');
  const min = parseGoDuration(minText ?? '');
  const max = maxText === undefined ? (min === undefined ? undefined : min * 4) : parseGoDuration(maxText);
  if (rest.length || min === undefined || max === undefined) throw new BadRequest(`invalid --wait "${text}": expected MIN[:MAX] durations, e.g. 2s:10s`);
  if (max < min) throw new BadRequest(`invalid --wait "${text}": MAX must not be less than MIN`);
  return { minMs: min, maxMs: max };
}

/**
 * A command line split into argv the way a shell splits words (whitespace; '...' literal;
 * "..." with \" \\ \$ \` escapes; \x outside quotes) but with no shell behind it: pipes,
 * redirections, ; && and $(...) are refused so that nothing looks like it works when it would not.
 */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const shellOnly = (what: string) =>
    new BadRequest(`invalid command "${line}": ${what} needs a shell, and COMMAND runs without one; give the shell yourself: sh -c '...'`);
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new BadRequest(`invalid command "${line}": unterminated '`);
      cur += line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new BadRequest(`invalid command "${line}": unterminated "`);
        const d = line[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) {
          cur += line[i + 1];
          i += 2;
          continue;
        }
        if (d === '$' || d === '`') throw shellOnly('expansion ($ or `)');
        cur += d;
        i++;
      }
      i++;
    } else if (c === '\\') {
      if (i + 1 < line.length) cur += line[i + 1];
      i += 2;
    } else {
      if (c === '$' || c === '`') throw shellOnly('expansion ($ or `)');
      // Pipes, lists and redirections unquoted: shell constructs.
      if ('|;&<>'.includes(c)) throw shellOnly(`"${c}"`);
      cur += c;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}
