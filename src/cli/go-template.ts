// Go's text/template syntax, as `docker ... --format` takes it, over JSON data (no npm library
// implements more than {{.Field}} and range). Pure: parse once, execute against a value.
//
//   {{.State.Pid}}  {{.}}  {{$}}  {{json .Config}}  {{index .Labels "k"}}  {{join .Names ","}}
//   {{range .X}}..{{else}}..{{end}}  {{range $k, $v := .X}}  {{if ..}}..{{else if ..}}..{{end}}
//   {{with .X}}..{{end}}  {{.X | json}}  {{- trim -}}  {{/* comment */}}
//   functions: json, index, join, split, len, upper, lower, title, print, println, printf,
//   truncate, pad, eq, ne, lt, le, gt, ge, and, or, not
// Errors read as Go's: `template: :1:4: executing "" at <.A.B>: nil pointer evaluating interface {}.B`.

export class TemplateError extends Error {}

type Arg =
  | { k: 'field'; base: 'dot' | 'root' | string; path: string[]; src: string }
  | { k: 'lit'; v: unknown; src: string }
  | { k: 'fn'; name: string; src: string }
  | { k: 'pipe'; pipe: Pipe; path: string[]; src: string };
interface Cmd {
  args: Arg[];
}
interface Pipe {
  decl: string[];
  cmds: Cmd[];
  pos: string;
}
type Node =
  | { k: 'text'; s: string }
  | { k: 'action'; pipe: Pipe }
  | { k: 'if' | 'with' | 'range'; pipe: Pipe; body: Node[]; alt: Node[] };

interface Tok {
  t: 'text' | 'action';
  s: string;
  line: number;
  col: number;
}

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const posOf = (at: number) => {
    const before = src.slice(0, at);
    const line = before.split('\n').length;
    return { line, col: at - before.lastIndexOf('\n') - 1 };
  };
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ t: 'text', s: src.slice(i), ...posOf(i) });
      break;
    }
    let text = src.slice(i, open);
    let start = open + 2;
    if (/^-\s/.test(src.slice(start, start + 2))) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    if (text) out.push({ t: 'text', s: text, ...posOf(i) });
    let close = -1;
    let q: string | undefined;
    for (let j = start; j < src.length; j++) {
      const c = src[j]!;
      if (q) {
        if (c === '\\' && q === '"') j++;
        else if (c === q) q = undefined;
      } else if (c === '"' || c === '`' || c === "'") q = c;
      else if (src.startsWith('}}', j)) {
        close = j;
        break;
      }
    }
    if (close < 0) throw new TemplateError(`template: :${posOf(open).line}: unclosed action`);
    let body = src.slice(start, close);
    i = close + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(src.slice(i))!;
      i += m[0].length;
    }
    out.push({ t: 'action', s: body.trim(), ...posOf(open + 2) });
  }
  return out;
}

/** Splits an action into words: strings, parentheses, pipes and the rest. */
function words(s: string, where: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '(' || c === ')' || c === '|' || c === ',') out.push(c), i++;
    else if (c === '"' || c === '`' || c === "'") {
      let j = i + 1;
      while (j < s.length && s[j] !== c) j += c === '"' && s[j] === '\\' ? 2 : 1;
      if (j >= s.length) throw new TemplateError(`template: ${where}: unterminated quoted string`);
      out.push(s.slice(i, j + 1));
      i = j + 1;
    } else if (s.startsWith(':=', i)) out.push(':='), (i += 2);
    else {
      let j = i;
      while (j < s.length && !/[\s()|,]/.test(s[j]!) && !s.startsWith(':=', j)) j++;
      out.push(s.slice(i, j));
      i = j;
    }
  }
  return out;
}

const FUNCS = new Set(['json', 'index', 'join', 'split', 'len', 'upper', 'lower', 'title', 'print', 'println', 'printf', 'truncate', 'pad', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'and', 'or', 'not']);

function parsePipe(ws: string[], where: string): Pipe {
  let at = 0;
  const decl: string[] = [];
  const di = ws.indexOf(':=');
  if (di > 0) {
    for (const w of ws.slice(0, di)) if (w !== ',') decl.push(w);
    if (decl.some((d) => !/^\$\w*$/.test(d))) throw new TemplateError(`template: ${where}: bad variable declaration`);
    at = di + 1;
  }
  const operand = (): Arg => {
    const w = ws[at++];
    if (w === undefined) throw new TemplateError(`template: ${where}: missing value`);
    if (w === '(') {
      let depth = 1;
      const start = at;
      while (at < ws.length && depth) {
        if (ws[at] === '(') depth++;
        else if (ws[at] === ')') depth--;
        at++;
      }
      if (depth) throw new TemplateError(`template: ${where}: unclosed left paren`);
      const inner = parsePipe(ws.slice(start, at - 1), where);
      const next = ws[at];
      const path = next !== undefined && next.startsWith('.') ? (at++, next.slice(1).split('.')) : [];
      return { k: 'pipe', pipe: inner, path, src: `(${ws.slice(start, at - 1).join(' ')})` };
    }
    if (w === '.') return { k: 'field', base: 'dot', path: [], src: w };
    if (w.startsWith('.')) return { k: 'field', base: 'dot', path: w.slice(1).split('.'), src: w };
    if (w.startsWith('$')) {
      const [v, ...path] = w.split('.');
      return { k: 'field', base: v === '$' ? 'root' : v!, path, src: w };
    }
    if (w.startsWith('"')) return { k: 'lit', v: JSON.parse(w) as string, src: w };
    if (w.startsWith('`')) return { k: 'lit', v: w.slice(1, -1), src: w };
    if (w.startsWith("'")) return { k: 'lit', v: w.slice(1, -1), src: w };
    if (/^-?\d+(\.\d+)?$/.test(w)) return { k: 'lit', v: Number(w), src: w };
    if (w === 'true' || w === 'false') return { k: 'lit', v: w === 'true', src: w };
    if (w === 'nil') return { k: 'lit', v: null, src: w };
    if (FUNCS.has(w)) return { k: 'fn', name: w, src: w };
    throw new TemplateError(`template: ${where}: function "${w}" not defined`);
  };
  const cmds: Cmd[] = [];
  let args: Arg[] = [];
  while (at < ws.length) {
    if (ws[at] === '|') {
      if (!args.length) throw new TemplateError(`template: ${where}: missing command`);
      cmds.push({ args });
      args = [];
      at++;
      continue;
    }
    if (ws[at] === ')') throw new TemplateError(`template: ${where}: unexpected right paren`);
    args.push(operand());
  }
  if (!args.length) throw new TemplateError(`template: ${where}: missing value for command`);
  cmds.push({ args });
  return { decl, cmds, pos: where };
}

function parse(toks: Tok[]): Node[] {
  let i = 0;
  // Returns the nodes up to an {{else}} or {{end}}, and which one stopped it.
  const list = (inBlock: boolean): { nodes: Node[]; stop: 'end' | 'else' | 'elseif' | 'eof'; rest?: string } => {
    const nodes: Node[] = [];
    while (i < toks.length) {
      const t = toks[i++]!;
      if (t.t === 'text') {
        nodes.push({ k: 'text', s: t.s });
        continue;
      }
      const where = `:${t.line}:${t.col}`;
      const s = t.s;
      if (s.startsWith('/*')) continue;
      const kw = /^(\w+)\b\s*(.*)$/s.exec(s);
      const word = kw?.[1];
      if (word === 'end' || word === 'else') {
        if (!inBlock) throw new TemplateError(`template: ${where}: unexpected {{${word}}}`);
        if (word === 'else' && /^(if|with)\b/.test(kw![2]!)) return { nodes, stop: 'elseif', rest: kw![2]! };
        return { nodes, stop: word };
      }
      if (word === 'if' || word === 'with' || word === 'range') {
        nodes.push(block(word, kw![2]!, where));
        continue;
      }
      if (word === 'template' || word === 'define' || word === 'block') throw new TemplateError(`template: ${where}: {{${word}}} is not supported`);
      nodes.push({ k: 'action', pipe: parsePipe(words(s, where), where) });
    }
    if (inBlock) throw new TemplateError('template: :1: unexpected EOF');
    return { nodes, stop: 'eof' };
  };
  const block = (k: 'if' | 'with' | 'range', expr: string, where: string): Node => {
    const pipe = parsePipe(words(expr, where), where);
    const body = list(true);
    let alt: Node[] = [];
    if (body.stop === 'else') {
      const e = list(true);
      if (e.stop !== 'end') throw new TemplateError(`template: ${where}: expected end; found else`);
      alt = e.nodes;
    } else if (body.stop === 'elseif') {
      const m = /^(if|with)\s*(.*)$/s.exec(body.rest!)!;
      alt = [block(m[1] as 'if' | 'with', m[2]!, where)];
    }
    return { k, pipe, body: body.nodes, alt };
  };
  const r = list(false);
  return r.nodes;
}

// ---- execution ----------------------------------------------------------------------------

interface Scope {
  dot: unknown;
  root: unknown;
  vars: Map<string, unknown>;
}

const MISSING = Symbol('no value');

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function walk(v: unknown, path: string[], src: string, where: string): unknown {
  let cur = v;
  for (const p of path) {
    // A missing key is Go's zero value (printed "<no value>"); a field of it is an error, as in Go.
    if (cur === MISSING || cur === null || cur === undefined) {
      throw new TemplateError(`template: ${where}: executing "" at <${src}>: nil pointer evaluating interface {}.${p}`);
    }
    if (!isObj(cur)) throw new TemplateError(`template: ${where}: executing "" at <${src}>: can't evaluate field ${p} in type ${goType(cur)}`);
    cur = Object.hasOwn(cur, p) ? cur[p] : MISSING;
  }
  return cur;
}

function goType(v: unknown): string {
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'boolean') return 'bool';
  return 'interface {}';
}

function truthy(v: unknown): boolean {
  if (v === MISSING || v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObj(v)) return Object.keys(v).length > 0;
  return true;
}

/** How Go's fmt prints a decoded JSON value (%v). */
export function goString(v: unknown): string {
  if (v === MISSING || v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (isObj(v)) {
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goString(v[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

function cmp(a: unknown, b: unknown, where: string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError(`template: ${where}: incompatible types for comparison`);
}

function call(name: string, args: unknown[], where: string): unknown {
  const a = args.map((x) => (x === MISSING ? null : x));
  const need = (n: number) => {
    if (a.length < n) throw new TemplateError(`template: ${where}: wrong number of args for ${name}: want ${n} got ${a.length}`);
  };
  switch (name) {
    case 'json':
      need(1);
      return JSON.stringify(a[0] ?? null);
    case 'index': {
      need(1);
      let cur = a[0];
      for (const k of a.slice(1)) {
        if (Array.isArray(cur) && typeof k === 'number') {
          if (k < 0 || k >= cur.length) throw new TemplateError(`template: ${where}: error calling index: index out of range: ${k}`);
          cur = cur[k];
        } else if (isObj(cur) && typeof k === 'string') cur = k in cur ? cur[k] : MISSING;
        else if (cur === null || cur === undefined) return MISSING;
        else throw new TemplateError(`template: ${where}: error calling index: cannot index ${goType(cur)} with ${goType(k)}`);
      }
      return cur;
    }
    case 'join':
      need(2);
      if (!Array.isArray(a[0])) throw new TemplateError(`template: ${where}: error calling join: expected a list, got ${goType(a[0])}`);
      return a[0].map(goString).join(String(a[1]));
    case 'split':
      need(2);
      return String(a[0]).split(String(a[1]));
    case 'len':
      need(1);
      if (typeof a[0] === 'string' || Array.isArray(a[0])) return a[0].length;
      if (isObj(a[0])) return Object.keys(a[0]).length;
      throw new TemplateError(`template: ${where}: error calling len: len of type ${goType(a[0])}`);
    case 'upper':
      return goString(a[0]).toUpperCase();
    case 'lower':
      return goString(a[0]).toLowerCase();
    case 'title':
      return goString(a[0]).replace(/\b\w/g, (c) => c.toUpperCase());
    case 'truncate':
      need(2);
      return [...goString(a[0])].slice(0, Number(a[1])).join('');
    case 'pad':
      need(3);
      return `${' '.repeat(Number(a[1]))}${goString(a[0])}${' '.repeat(Number(a[2]))}`;
    case 'print':
      return a.map(goString).join('');
    case 'println':
      return a.map(goString).join(' ') + '\n';
    case 'printf': {
      need(1);
      let n = 1;
      return String(a[0]).replace(/%([%vsdq])/g, (_, c: string) => (c === '%' ? '%' : c === 'q' ? JSON.stringify(goString(a[n++])) : goString(a[n++])));
    }
    case 'eq':
      need(2);
      return a.slice(1).some((b) => b === a[0]);
    case 'ne':
      need(2);
      return a[0] !== a[1];
    case 'lt':
      need(2);
      return cmp(a[0], a[1], where) < 0;
    case 'le':
      need(2);
      return cmp(a[0], a[1], where) <= 0;
    case 'gt':
      need(2);
      return cmp(a[0], a[1], where) > 0;
    case 'ge':
      need(2);
      return cmp(a[0], a[1], where) >= 0;
    case 'and': {
      need(1);
      for (const x of args) if (!truthy(x)) return x;
      return args[args.length - 1];
    }
    case 'or': {
      need(1);
      for (const x of args) if (truthy(x)) return x;
      return args[args.length - 1];
    }
    case 'not':
      need(1);
      return !truthy(args[0]);
  }
  throw new TemplateError(`template: ${where}: function "${name}" not defined`);
}

function evalArg(arg: Arg, sc: Scope, where: string): unknown {
  switch (arg.k) {
    case 'lit':
      return arg.v;
    case 'fn':
      return call(arg.name, [], where);
    case 'pipe':
      return walk(evalPipe(arg.pipe, sc), arg.path, arg.src, where);
    case 'field': {
      let base: unknown;
      if (arg.base === 'dot') base = sc.dot;
      else if (arg.base === 'root') base = sc.root;
      else if (sc.vars.has(arg.base)) base = sc.vars.get(arg.base);
      else throw new TemplateError(`template: ${where}: undefined variable "${arg.base}"`);
      return walk(base, arg.path, arg.src, where);
    }
  }
}

function evalPipe(pipe: Pipe, sc: Scope): unknown {
  let prev: unknown = MISSING;
  let first = true;
  for (const cmd of pipe.cmds) {
    const [head, ...rest] = cmd.args;
    const extra = first ? [] : [prev];
    if (head!.k === 'fn') prev = call(head!.name, [...rest.map((r) => evalArg(r, sc, pipe.pos)), ...extra], pipe.pos);
    else {
      if (rest.length || extra.length) throw new TemplateError(`template: ${pipe.pos}: can't give argument to non-function ${head!.src}`);
      prev = evalArg(head!, sc, pipe.pos);
    }
    first = false;
  }
  return prev;
}

function exec(nodes: Node[], sc: Scope, out: string[]): void {
  for (const n of nodes) {
    if (n.k === 'text') out.push(n.s);
    else if (n.k === 'action') {
      const v = evalPipe(n.pipe, sc);
      if (n.pipe.decl.length) sc.vars.set(n.pipe.decl[0]!, v);
      else out.push(goString(v));
    } else if (n.k === 'if') exec(truthy(evalPipe(n.pipe, sc)) ? n.body : n.alt, sc, out);
    else if (n.k === 'with') {
      const v = evalPipe(n.pipe, sc);
      if (truthy(v)) exec(n.body, { ...sc, dot: v }, out);
      else exec(n.alt, sc, out);
    } else {
      const v = evalPipe(n.pipe, sc);
      const entries: Array<[unknown, unknown]> = Array.isArray(v)
        ? v.map((x, i) => [i, x])
        : isObj(v)
          ? Object.keys(v)
              .sort()
              .map((k) => [k, v[k]])
          : v === MISSING || v === null
            ? []
            : (() => {
                throw new TemplateError(`template: ${n.pipe.pos}: range can't iterate over ${goString(v)}`);
              })();
      if (!entries.length) exec(n.alt, sc, out);
      for (const [k, x] of entries) {
        const vars = new Map(sc.vars);
        const d = n.pipe.decl;
        if (d.length === 1) vars.set(d[0]!, x);
        if (d.length === 2) vars.set(d[0]!, k).set(d[1]!, x);
        exec(n.body, { ...sc, dot: x, vars }, out);
      }
    }
  }
}

export class GoTemplate {
  private readonly nodes: Node[];

  constructor(readonly source: string) {
    this.nodes = parse(lex(source));
  }

  execute(data: unknown): string {
    const out: string[] = [];
    exec(this.nodes, { dot: data, root: data, vars: new Map([['$', data]]) }, out);
    return out.join('');
  }
}

/**
 * Docker's `table` directive: the first line is the template run on `headers` (each field's
 * column title), and the cells of every line, split at tabs, are aligned as Go's tabwriter
 * does for docker (minimum width 10, padding 3).
 */
export function renderFormat(format: string, rows: unknown[], headers: Record<string, string>): string {
  const isTable = format.startsWith('table');
  const body = isTable ? format.slice(5).replace(/^\s+/, '') : format;
  const tpl = new GoTemplate(body.replace(/\\t/g, '\t').replace(/\\n/g, '\n'));
  const lines = rows.map((r) => tpl.execute(r));
  if (!isTable) return lines.map((l) => l + '\n').join('');
  return alignTabs([tpl.execute(headers), ...lines]);
}

function alignTabs(lines: string[]): string {
  const cells = lines.flatMap((l) => l.split('\n')).map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const row of cells) row.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, Math.max(10, c.length + 3))));
  return cells.map((row) => row.map((c, i) => (i < row.length - 1 ? c.padEnd(widths[i]!) : c)).join('').trimEnd() + '\n').join('');
}
