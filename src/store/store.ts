// Persistence behind one interface, record by record. The daemon keeps the state in memory;
// every committed change is written through here before it answers, and only the records the
// change touched are written (see Ctx.persist), so a crash never loses an acknowledged change
// and a write costs what changed, not the size of the whole state.
import type { BerthState, LbRecord, NetworkRecord, SandboxRecord, ServiceRecord } from '../model/types.js';
import type { WriteStats } from './durable-file.js';
import type { CatalogRecord } from '../model/catalog.js';

/** What is stored beside the records: small settings changed through the API. */
export interface StoreMeta {
  hostServices: string[];
  /** Load balancers (berth lb): small records, absent when there is none. */
  lbs?: Record<string, LbRecord>;
}

/** One batch of record changes, written together (each record atomically). */
export interface StoreChange {
  putNetworks: NetworkRecord[];
  deleteNetworks: string[];
  putSandboxes: SandboxRecord[];
  deleteSandboxes: string[];
  /** Services (berth service create): absent means none changed. */
  putServices?: ServiceRecord[];
  deleteServices?: string[];
  /** Services registered in the catalog (Consul's agent API), by service ID: absent means none changed. */
  putCatalog?: CatalogRecord[];
  deleteCatalog?: string[];
  /** Present when the meta record changed. */
  meta?: StoreMeta;
  /**
   * Ids in putSandboxes written without the directory's fsync (model/durable-part.ts): the file is
   * still fsynced before its rename, so a power loss may bring back the previous version (or, for
   * a new record, none), never a damaged one.
   */
  noDirSync?: ReadonlySet<string>;
}

export interface Loaded {
  state: BerthState;
  /** What the store had to do to load (migration, fallback to a previous copy), for the log. */
  notes: string[];
}

export interface Store {
  load(): Promise<Loaded>;
  apply(change: StoreChange): Promise<WriteStats>;
}

export function emptyState(): BerthState {
  return { version: 1, networks: {}, sandboxes: {} };
}

export function metaOf(state: BerthState): StoreMeta {
  const lbs = state.lbs && Object.keys(state.lbs).length ? { lbs: state.lbs } : {};
  return { hostServices: state.hostServices ?? [], ...lbs };
}

/** The store refuses to load: the message names the file and what to do. */
export class StoreDamaged extends Error {}
