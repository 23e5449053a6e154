// Templates rendered from the catalog (consul-template's job) with Handlebars: loops ({{#each}}),
// conditionals ({{#if}}, {{#unless}}, {{else}}), no code in the template, no HTML escaping (the
// output is configuration, not a page). Data comes in through helpers that name what they read:
//
//   {{#each (service "web")}}server {{ID}} {{Address}}:{{Port}} check
//   {{/each}}                               healthy instances (all checks passing)
//   {{service "web" status="any"}}          every instance, with its Status
//   {{service "web" tag="primary"}}         instances with that tag
//   {{#each (services)}}{{Name}} {{join Tags ","}}{{/each}}
//   helpers: eq, ne, join, len
//
// A render names the data it used (deps); the caller fetches what is missing with blocking
// queries and renders again (consul-template renders once all dependencies have data). Pure:
// compile once, render against a snapshot of fetched answers.
import Handlebars from 'handlebars';
import { BadRequest } from '../model/errors.js';

/** Answers of the catalog by dependency key: "health:NAME" (health entries), "services" (name -> tags). */
export type DepData = ReadonlyMap<string, unknown>;

export interface TemplateInstance {
  ID: string;
  Name: string;
  Node: string;
  NodeAddress: string;
  Address: string;
  Port: number;
  Tags: string[];
  Meta: Record<string, string>;
  Status: 'passing' | 'warning' | 'critical';
}

export interface RenderResult {
  text: string;
  /** Every dependency the template read. */
  deps: Set<string>;
  /** Dependencies without data yet: the text is not complete. */
  missing: Set<string>;
  /** For each `service` call (NAME|status|tag): how many instances it gave. */
  counts: Map<string, number>;
}

interface HealthEntry {
  Node: { Node: string; Address: string };
  Service: { ID: string; Service: string; Address: string; Port: number; Tags: string[] | null; Meta: Record<string, string> | null };
  Checks: Array<{ Status: 'passing' | 'warning' | 'critical' }>;
}

function worst(checks: HealthEntry['Checks']): TemplateInstance['Status'] {
  if (checks.some((c) => c.Status === 'critical')) return 'critical';
  if (checks.some((c) => c.Status === 'warning')) return 'warning';
  return 'passing';
}

export function toInstances(entries: readonly HealthEntry[]): TemplateInstance[] {
  return entries.map((e) => ({
    ID: e.Service.ID,
    Name: e.Service.Service,
    Node: e.Node.Node,
    NodeAddress: e.Node.Address,
    Address: e.Service.Address || e.Node.Address,
    Port: e.Service.Port,
    Tags: e.Service.Tags ?? [],
    Meta: e.Service.Meta ?? {},
    Status: worst(e.Checks),
  }));
}

export class CatalogTemplate {
  private readonly compiled: HandlebarsTemplateDelegate;
  private run: { data: DepData; res: RenderResult } | undefined;

  constructor(
    readonly source: string,
    private readonly name = 'template',
  ) {
    const hb = Handlebars.create();
    const self = this;
    hb.registerHelper('service', function (this: unknown, svc: unknown, options: Handlebars.HelperOptions) {
      if (typeof svc !== 'string' || !svc) throw new Error('service needs a service name: {{#each (service "web")}}');
      const status = String(options.hash?.['status'] ?? 'passing');
      if (status !== 'passing' && status !== 'any') throw new Error(`service "${svc}": status must be "passing" or "any"`);
      const tag = options.hash?.['tag'] === undefined ? undefined : String(options.hash['tag']);
      return self.service(svc, status, tag);
    });
    hb.registerHelper('services', () => self.services());
    hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
    hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
    hb.registerHelper('len', (a: unknown) => (Array.isArray(a) ? a.length : 0));
    hb.registerHelper('join', (a: unknown, sep: unknown) => (Array.isArray(a) ? a.join(typeof sep === 'string' ? sep : ',') : ''));
    try {
      // Precompile now so a syntax error is reported at start, not at the first change.
      hb.precompile(source, { noEscape: true, strict: false });
    } catch (e) {
      throw new BadRequest(`${name}: ${(e as Error).message}`);
    }
    this.compiled = hb.compile(source, { noEscape: true, strict: false });
  }

  render(data: DepData): RenderResult {
    const res: RenderResult = { text: '', deps: new Set(), missing: new Set(), counts: new Map() };
    this.run = { data, res };
    try {
      res.text = this.compiled({});
    } catch (e) {
      throw new BadRequest(`${this.name}: ${(e as Error).message}`);
    } finally {
      this.run = undefined;
    }
    return res;
  }

  private need(key: string): unknown {
    const r = this.run!;
    r.res.deps.add(key);
    if (!r.data.has(key)) r.res.missing.add(key);
    return r.data.get(key);
  }

  private service(name: string, status: string, tag: string | undefined): TemplateInstance[] {
    const entries = (this.need(`health:${name}`) as HealthEntry[] | undefined) ?? [];
    const list = toInstances(entries).filter((i) => (status === 'any' || i.Status === 'passing') && (tag === undefined || i.Tags.includes(tag)));
    const key = `${name}|${status}|${tag ?? ''}`;
    const counts = this.run!.res.counts;
    counts.set(key, Math.max(counts.get(key) ?? 0, list.length));
    return list;
  }

  private services(): Array<{ Name: string; Tags: string[] }> {
    const m = (this.need('services') as Record<string, string[]> | undefined) ?? {};
    return Object.keys(m)
      .sort()
      .map((k) => ({ Name: k, Tags: m[k] ?? [] }));
  }
}

/**
 * The `service` calls that had instances in the last written output and have none now: a render
 * that would empty a back-end. The caller keeps the last output instead (a catalog restart or a
 * brief outage must not leave a load balancer with no servers).
 */
export function emptiedBackends(before: ReadonlyMap<string, number> | undefined, now: ReadonlyMap<string, number>): string[] {
  if (!before) return [];
  return [...now].filter(([k, n]) => n === 0 && (before.get(k) ?? 0) > 0).map(([k]) => k.split('|')[0]!);
}
