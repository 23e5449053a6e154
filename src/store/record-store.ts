// The embedded local store: one file per record, so a change costs the records it touched.
//
//   DATA_ROOT/store/meta.json              {"format":2,"hostServices":[...]}
//   DATA_ROOT/store/networks/<id>.json     a NetworkRecord
//   DATA_ROOT/store/sandboxes/<id>.json    a SandboxRecord
//   DATA_ROOT/store/services/<id>.json     a ServiceRecord (25 characters of [0-9a-z])
//   DATA_ROOT/store/catalog/<id>.json      a service registered in the catalog, with its check results (id: Consul's service ID)
//   ...beside each: <file>.prev            the record's previous content (last good copy)
//
// Why files per record rather than a journal: a `berth run -d` changes one sandbox record a few
// times, and one small file replaced atomically is the cheapest durable write that stays
// readable with `cat`, needs no compaction, and keeps damage local: a bad file costs one
// record, which then comes back from its previous copy. berth's operations each change one
// record (intent first, then the kernel, then the result), so they need no multi-file
// transaction; a crash between two files of one batch leaves records that are each whole and
// that the reconciler checks against the kernel at the next start.
//
// Loading: a damaged file (not JSON, or not the record it should be) is replaced by its
// previous copy, the damaged one kept as <file>.damaged, and the load says so (berthd logs it).
// With no good copy berthd refuses to start, naming the file: it may describe running
// sandboxes, and starting without it would forget them.
import { existsSync, mkdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BerthState } from '../model/types.js';
import { newWriteStats, removeFileDurable, syncDir, writeFileDurable, type WriteStats } from './durable-file.js';
import { migrateLegacyState } from './legacy-state.js';
import { checkCatalog, checkMeta, checkNetwork, checkSandbox, checkService } from './record-shape.js';
import { emptyState, metaOf, StoreDamaged, type Loaded, type Store, type StoreChange, type StoreMeta } from './store.js';

const ID_FILE = /^([0-9a-f]{64})\.json(\.prev)?$/;
const SERVICE_FILE = /^([0-9a-z]{25})\.json(\.prev)?$/;
/** Consul service IDs as the catalog accepts them (catalog/schemas.ts): never "." or "..", no "/". */
const CATALOG_FILE = /^([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.json(\.prev)?$/;
const RECORD_HINT =
  'it may describe a running sandbox or a network in use. Restore it from a backup, or move it away to start without that record ' +
  "(a sandbox's processes are then left running, unmanaged).";
const META_HINT =
  'it holds the host services added with berth host-service add. Restore it from a backup, ' +
  'or write {"format":2,"hostServices":[]} into it to start without them.';

/** Record files read at once when the store is loaded. */
const LOAD_AT_ONCE = 32;

export class RecordStore implements Store {
  readonly dir: string;
  private readonly netDir: string;
  private readonly sbDir: string;
  private readonly svcDir: string;
  private readonly catDir: string;
  private readonly metaPath: string;

  constructor(private readonly dataRoot: string) {
    this.dir = join(dataRoot, 'store');
    this.netDir = join(this.dir, 'networks');
    this.sbDir = join(this.dir, 'sandboxes');
    this.svcDir = join(this.dir, 'services');
    this.catDir = join(this.dir, 'catalog');
    this.metaPath = join(this.dir, 'meta.json');
  }

  async load(): Promise<Loaded> {
    const notes: string[] = [];
    const legacy = join(this.dataRoot, 'state.json');
    const hasMeta = existsSync(this.metaPath) || existsSync(`${this.metaPath}.prev`);
    if (!hasMeta && existsSync(legacy)) {
      // meta.json is written last by a migration: without it, migrate (again) from state.json.
      const state = await migrateLegacyState(legacy, this);
      notes.push(`migrated ${legacy} to one file per record in ${this.dir} (the old file is kept as ${legacy}.migrated)`);
      return { state, notes };
    }
    await mkdir(this.netDir, { recursive: true, mode: 0o700 });
    await mkdir(this.sbDir, { recursive: true, mode: 0o700 });
    const state = emptyState();
    // A previous copy is older than a version written after it. A network's copy marked
    // pending create means that create completed (one that failed removes the file instead
    // of writing it again): taken at its word, the next start would remove a live network.
    const fromPrevNetwork = (v: unknown, id: string) => {
      const n = checkNetwork(v, id);
      if (n.pending === 'create') delete n.pending;
      return n;
    };
    for (const [id, rec] of await this.loadDir(this.netDir, checkNetwork, notes, fromPrevNetwork)) state.networks[id] = rec;
    for (const [id, rec] of await this.loadDir(this.sbDir, checkSandbox, notes)) state.sandboxes[id] = rec;
    if (existsSync(this.svcDir)) {
      const services = await this.loadDir(this.svcDir, checkService, notes, checkService, SERVICE_FILE);
      if (services.size) state.services = Object.fromEntries(services);
    }
    if (existsSync(this.catDir)) {
      const recs = await this.loadDir(this.catDir, checkCatalog, notes, checkCatalog, CATALOG_FILE);
      if (recs.size) {
        state.catalog = { services: {}, checks: {} };
        for (const [id, r] of recs) {
          state.catalog.services[id] = r.service;
          Object.assign(state.catalog.checks, r.checks);
        }
      }
    }
    if (hasMeta) {
      const meta = await this.loadFile(this.metaPath, checkMeta, notes, META_HINT, checkMeta, metaText);
      state.hostServices = meta.hostServices;
      if (meta.lbs) state.lbs = meta.lbs;
    } else if (Object.keys(state.networks).length === 0 && Object.keys(state.sandboxes).length === 0) {
      // A new data root: meta.json marks the store as made (records without it mean damage).
      await this.writeMeta({ hostServices: [] });
      await syncDir(this.dir);
    } else {
      throw new StoreDamaged(
        `${this.metaPath} is missing but ${this.dir} holds records: restore it (or its copy meta.json.prev) from a backup, ` +
          `or write {"format":2,"hostServices":[]} into it if no host service was added with berth host-service add`,
      );
    }
    if (existsSync(legacy)) {
      // A migration that stopped after meta.json but before it could put the old file aside.
      await rename(legacy, `${legacy}.migrated`);
    }
    return { state, notes };
  }

  private async loadDir<T>(dir: string, check: (v: unknown, id: string) => T, notes: string[], checkPrev = check, names = ID_FILE): Promise<Map<string, T>> {
    const ids = new Set<string>();
    for (const f of await readdir(dir)) {
      const m = names.exec(f);
      if (m) ids.add(m[1]!);
      // A write a crash cut off before its rename: the record file itself is untouched.
      else if (f.endsWith('.json.tmp')) await rm(join(dir, f), { force: true });
    }
    // Read LOAD_AT_ONCE files at a time (one after another took 0.5 s for 1,000 records on a busy
    // host: berthd's restart waits for it); the records and notes keep the sorted order.
    const sorted = [...ids].sort();
    const out = new Map<string, T>();
    for (let i = 0; i < sorted.length; i += LOAD_AT_ONCE) {
      const chunk = sorted.slice(i, i + LOAD_AT_ONCE);
      const each = chunk.map(() => [] as string[]);
      const values = await Promise.all(chunk.map((id, k) => this.loadFile(join(dir, `${id}.json`), (v) => check(v, id), each[k]!, RECORD_HINT, (v) => checkPrev(v, id))));
      chunk.forEach((id, k) => {
        out.set(id, values[k]!);
        notes.push(...each[k]!);
      });
    }
    return out;
  }

  /** Reads one record file, falling back to its previous copy (and repairing the file from it). */
  private async loadFile<T>(path: string, check: (v: unknown) => T, notes: string[], hint: string, checkPrev = check, encode: (v: T) => string = (v) => JSON.stringify(v)): Promise<T> {
    const main = await readChecked(path, check);
    if (main.ok) return main.value;
    const prev = await readChecked(`${path}.prev`, checkPrev);
    if (!prev.ok) {
      throw new StoreDamaged(
        `store file ${path} is damaged (${main.why}) and has no good previous copy (${path}.prev: ${prev.why}). ` +
          `berthd will not start without it: ${hint}`,
      );
    }
    // Put the damaged file aside for inspection and make the good copy current again, so the
    // next write of this record cannot turn the damaged content into its previous copy.
    if (main.why !== 'missing') await rename(path, `${path}.damaged`);
    await writeFileDurable(path, encode(prev.value), false);
    await syncDir(pathDir(path));
    notes.push(`store file ${path} was damaged (${main.why}): started from its previous copy ${path}.prev (the damaged file is kept as ${path}.damaged)`);
    return prev.value;
  }

  async apply(change: StoreChange): Promise<WriteStats> {
    const stats = newWriteStats();
    // Synchronous: a stat when they exist (see durable-file.ts for why not the thread pool).
    mkdirSync(this.netDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.sbDir, { recursive: true, mode: 0o700 });
    const dirs = new Set<string>();
    // Networks before the sandboxes that may refer to them; removals in the opposite order.
    for (const n of change.putNetworks) {
      await writeFileDurable(join(this.netDir, `${n.id}.json`), JSON.stringify(n), true, stats);
      dirs.add(this.netDir);
    }
    for (const s of change.putSandboxes) {
      await writeFileDurable(join(this.sbDir, `${s.id}.json`), JSON.stringify(s), true, stats);
      // New, or runtime state only: no directory fsync (every name still points at flushed data).
      if (!change.noDirSync?.has(s.id)) dirs.add(this.sbDir);
    }
    for (const id of change.deleteSandboxes) {
      await removeFileDurable(join(this.sbDir, `${id}.json`));
      dirs.add(this.sbDir);
    }
    if (change.putServices?.length || change.deleteServices?.length) mkdirSync(this.svcDir, { recursive: true, mode: 0o700 });
    for (const v of change.putServices ?? []) {
      await writeFileDurable(join(this.svcDir, `${v.id}.json`), JSON.stringify(v), true, stats);
      dirs.add(this.svcDir);
    }
    for (const id of change.deleteServices ?? []) {
      await removeFileDurable(join(this.svcDir, `${id}.json`));
      dirs.add(this.svcDir);
    }
    if (change.putCatalog?.length || change.deleteCatalog?.length) mkdirSync(this.catDir, { recursive: true, mode: 0o700 });
    for (const c of change.putCatalog ?? []) {
      await writeFileDurable(join(this.catDir, `${c.service.id}.json`), JSON.stringify(c), true, stats);
      dirs.add(this.catDir);
    }
    for (const id of change.deleteCatalog ?? []) {
      await removeFileDurable(join(this.catDir, `${id}.json`));
      dirs.add(this.catDir);
    }
    for (const id of change.deleteNetworks) {
      await removeFileDurable(join(this.netDir, `${id}.json`));
      dirs.add(this.netDir);
    }
    if (change.meta) {
      await this.writeMeta(change.meta, stats);
      dirs.add(this.dir);
    }
    for (const d of dirs) await syncDir(d, stats);
    return stats;
  }

  async writeMeta(meta: StoreMeta, stats?: WriteStats): Promise<void> {
    await writeFileDurable(this.metaPath, metaText(meta), true, stats);
  }

  /** Writes a whole state (used by the migration); meta.json last, as its commit mark. */
  async writeAll(state: BerthState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.apply({
      putNetworks: Object.values(state.networks),
      deleteNetworks: [],
      putSandboxes: Object.values(state.sandboxes),
      deleteSandboxes: [],
      putServices: Object.values(state.services ?? {}),
      deleteServices: [],
    });
    await this.writeMeta(metaOf(state));
    await syncDir(this.dir);
  }
}

function metaText(meta: StoreMeta): string {
  return JSON.stringify({ format: 2, hostServices: meta.hostServices, ...(meta.lbs ? { lbs: meta.lbs } : {}) });
}

function pathDir(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

type Checked<T> = { ok: true; value: T } | { ok: false; why: string };

async function readChecked<T>(path: string, check: (v: unknown) => T): Promise<Checked<T>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, why: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (err as Error).message };
  }
  if (text.length === 0) return { ok: false, why: 'empty' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, why: `not valid JSON: ${(err as Error).message}` };
  }
  try {
    return { ok: true, value: check(parsed) };
  } catch (err) {
    return { ok: false, why: `not a valid record: ${(err as Error).message}` };
  }
}
