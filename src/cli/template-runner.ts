// `berth template`'s loop (consul-template's model): every dependency of the templates is a
// blocking query on the catalog; a change (debounced by --wait) renders every template, writes
// the ones whose output differs (atomically: a temporary file renamed over DEST), then runs their
// commands one at a time. When the catalog is unreachable the last output stays; a render that
// would leave a back-end with no servers that had some is not written.
import { spawn } from 'node:child_process';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { basename, dirname, join } from 'node:path';
import { CatalogTemplate, emptiedBackends } from '../catalog/template.js';
import type { TemplateSpec, WaitSpec } from '../catalog/template-spec.js';

export interface CatalogEndpoint {
  socketPath?: string;
  host?: string;
  port?: number;
}

export interface RunnerOptions {
  templates: Array<TemplateSpec & { text: string }>;
  wait: WaitSpec | undefined;
  once: boolean;
  endpoint: CatalogEndpoint;
  log: (msg: string) => void;
  /** Blocking query wait (consul-template's block_query_wait: 60 s). */
  blockWaitMs?: number;
  commandTimeoutMs?: number;
}

interface Fetched {
  index: number;
  body: unknown;
}

class Unavailable extends Error {}

/** Retries of one dependency before --once gives up (250 ms doubling: about 8 s in all). */
const ONCE_ATTEMPTS = 6;

function pathOf(key: string): string {
  if (key === 'services') return '/v1/catalog/services';
  return `/v1/health/service/${encodeURIComponent(key.slice('health:'.length))}`;
}

function fetchDep(ep: CatalogEndpoint, key: string, index: number, waitMs: number, signal: AbortSignal): Promise<Fetched> {
  const path = `${pathOf(key)}${index > 0 ? `?index=${index}&wait=${waitMs}ms` : ''}`;
  return new Promise((resolve, reject) => {
    const req = request({ ...ep, method: 'GET', path, signal, timeout: waitMs + 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Unavailable(`GET ${path}: ${res.statusCode} ${text.trim()}`));
        const idx = Number(res.headers['x-consul-index']);
        if (!Number.isFinite(idx)) return reject(new Unavailable(`GET ${path}: no X-Consul-Index header; is this a Consul-compatible catalog?`));
        try {
          resolve({ index: idx, body: JSON.parse(text) });
        } catch {
          reject(new Unavailable(`GET ${path}: the answer is not JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Unavailable(`GET ${path}: no answer`)));
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.name === 'AbortError' ? e : new Unavailable(`cannot reach the catalog (${ep.socketPath ?? `${ep.host}:${ep.port}`}): ${e.code ?? e.message}`)),
    );
    req.end();
  });
}

/** Writes `text` to `dest` through a temporary file in the same directory, keeping DEST's mode. */
async function writeAtomic(dest: string, text: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const mode = (await stat(dest).catch(() => undefined))?.mode ?? 0o644;
  const tmp = join(dirname(dest), `.${basename(dest)}.berth-${process.pid}.tmp`);
  const fh = await open(tmp, 'w', mode & 0o7777);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

function runCommand(argv: string[], timeoutMs: number, log: (m: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => {
      log(`command ${JSON.stringify(argv)} still running after ${timeoutMs} ms: stopping it`);
      child.kill('SIGTERM');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      log(`command ${JSON.stringify(argv)} failed to start: ${e.message}`);
      resolve();
    });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (code !== 0) log(`command ${JSON.stringify(argv)} failed: ${sig ? `signal ${sig}` : `exit code ${code}`}`);
      resolve();
    });
  });
}

export class TemplateRunner {
  private readonly cache = new Map<string, unknown>();
  private readonly watching = new Map<string, AbortController>();
  private readonly compiled: Array<{ spec: TemplateSpec; tpl: CatalogTemplate; counts?: Map<string, number>; rendered: boolean }>;
  private firstChange = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private again = false;
  private stopped = false;
  private finish!: (code: number) => void;
  readonly done: Promise<number>;

  constructor(private readonly o: RunnerOptions) {
    this.compiled = o.templates.map((t) => ({ spec: t, tpl: new CatalogTemplate(t.text, t.source), rendered: false }));
    this.done = new Promise((r) => (this.finish = r));
  }

  start(): Promise<number> {
    void this.round();
    return this.done;
  }

  stop(code = 0): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    for (const c of this.watching.values()) c.abort();
    this.finish(code);
  }

  /** A dependency changed: render now (first start) or after --wait's quiet time, at most MAX after the first change. */
  private changed(): void {
    if (this.stopped) return;
    const w = this.o.wait;
    if (!w || this.compiled.some((c) => !c.rendered)) return void this.round();
    const now = Date.now();
    if (!this.timer) this.firstChange = now;
    clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(w.minMs, this.firstChange + w.maxMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.round();
    }, delay);
  }

  private watch(key: string): void {
    if (this.watching.has(key)) return;
    const ctl = new AbortController();
    this.watching.set(key, ctl);
    const wait = this.o.blockWaitMs ?? 60_000;
    void (async () => {
      let index = 0;
      let failures = 0;
      while (!ctl.signal.aborted) {
        try {
          const r = await fetchDep(this.o.endpoint, key, index, wait, ctl.signal);
          if (failures > 0) this.o.log(`catalog reachable again (${key})`);
          failures = 0;
          // Consul's client rules: an index that went backwards resets; never block on 0.
          const next = r.index < index ? 0 : Math.max(1, r.index);
          const fresh = !this.cache.has(key) || next !== index;
          index = next;
          if (fresh) {
            this.cache.set(key, r.body);
            this.changed();
          }
        } catch (e) {
          if (ctl.signal.aborted) return;
          failures++;
          if (failures === 1) this.o.log(`${(e as Error).message}; keeping the last output and retrying`);
          // --once gives up after about 8 s of retries rather than hanging.
          if (this.o.once && failures >= ONCE_ATTEMPTS) {
            this.o.log(`giving up after ${failures} attempts: ${(e as Error).message}`);
            return this.stop(1);
          }
          index = 0;
          // consul-template's retry backoff: 250 ms doubling up to 1 minute.
          await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** (failures - 1), 60_000)));
        }
      }
    })();
  }

  private async round(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        await this.renderAll();
      } while (this.again && !this.stopped);
    } finally {
      this.busy = false;
    }
  }

  private async renderAll(): Promise<void> {
    const data = new Map(this.cache);
    const commands: string[][] = [];
    let complete = true;
    for (const c of this.compiled) {
      let res;
      try {
        res = c.tpl.render(data);
      } catch (e) {
        this.o.log((e as Error).message);
        if (this.o.once) return this.stop(1);
        continue;
      }
      for (const d of res.deps) this.watch(d);
      if (res.missing.size > 0) {
        complete = false;
        continue;
      }
      const emptied = emptiedBackends(c.counts, res.counts);
      if (emptied.length > 0) {
        this.o.log(`${c.spec.dest}: not written: ${emptied.join(', ')} would have no instances (it had some); keeping the last output`);
        continue;
      }
      c.rendered = true;
      c.counts = res.counts;
      const current = await readFile(c.spec.dest, 'utf8').catch(() => undefined);
      if (current === res.text) continue;
      try {
        await writeAtomic(c.spec.dest, res.text);
      } catch (e) {
        this.o.log(`${c.spec.dest}: ${(e as Error).message}`);
        continue;
      }
      this.o.log(`rendered ${c.spec.source} => ${c.spec.dest}`);
      if (c.spec.command.length && !commands.some((x) => JSON.stringify(x) === JSON.stringify(c.spec.command))) commands.push(c.spec.command);
    }
    for (const argv of commands) await runCommand(argv, this.o.commandTimeoutMs ?? 30_000, this.o.log);
    if (this.o.once && complete) this.stop(0);
  }
}
