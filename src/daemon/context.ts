// What every daemon operation works with: configuration, the in-memory state (the store's
// mirror), the single-writer lock, the logger, and the hooks into the firewall and DNS.
import { join } from 'node:path';
import { NotFound, BadRequest } from '../model/errors.js';
import type { BerthState, EndpointRecord, NetworkRecord, PortBinding, SandboxRecord, ServiceRecord } from '../model/types.js';
import { metaOf, type Store, type StoreChange } from '../store/store.js';
import { catalogRecordOf, type CatalogRecord } from '../model/catalog.js';
import { durablePartOf, needsDirSync } from '../model/durable-part.js';
import type { DaemonConfig } from './config.js';
import type { Logger } from './log.js';
import { Mutex } from './mutex.js';
import type { HostFacts } from '../plan/sandbox-files.js';
import type { CreateNetworkInput } from './schema/network-schemas.js';
import type { RemoteName } from '../plan/dns-view.js';

/** The parts of berth that follow the state: the firewall and the embedded DNS. */
export interface StateFollower {
  /** Brings the follower in line with state; throwing makes the caller roll its change back. */
  sync(state: BerthState): Promise<void>;
  /** At berthd start: rebuild in full (defaults to sync). */
  reconcile?(state: BerthState): Promise<void>;
  /** Reads nothing another follower makes: may sync at the same time as its independent neighbours (Ctx.follow). */
  independent?: boolean;
}

/** What sandboxes and networks need of the overlay (daemon/overlay.ts); absent on a single host. */
export interface OverlayHooks {
  /** Addresses other hosts' endpoints hold on an overlay network. */
  taken(networkId: string): Iterable<string>;
  /** Claims the endpoint's address cluster-wide; false if another host holds it. */
  claim(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Promise<boolean>;
  /** network create -d overlay / network rm of an overlay network (under the lock). */
  createNetwork(req: CreateNetworkInput): Promise<NetworkRecord>;
  removeNetwork(net: NetworkRecord): Promise<void>;
}

export interface PortAllocator {
  /**
   * Host ports for a sandbox about to start, or whose publishing network changed (connect,
   * disconnect); throws a user error when a port is taken. `previous` bindings are kept where free.
   */
  allocate(state: BerthState, sb: SandboxRecord, previous?: readonly PortBinding[]): Promise<PortBinding[]>;
}

type Rec = NetworkRecord | SandboxRecord | ServiceRecord;

function isSandbox(r: Rec): r is SandboxRecord {
  return 'config' in r;
}

function isService(r: Rec): r is ServiceRecord {
  return 'spec' in r && 'vips' in r;
}

export class Ctx {
  readonly lock = new Mutex();
  /** Records changed since the last persist, by id (present in state: write; absent: delete). */
  private readonly dirtyNetworks = new Set<string>();
  private readonly dirtySandboxes = new Set<string>();
  private readonly dirtyServices = new Set<string>();
  /** Catalog registrations (Consul service IDs) changed since the last persist. */
  private readonly dirtyCatalog = new Set<string>();
  /** What the store holds, as written: a write is skipped when a record did not change. */
  private readonly written = new Map<string, string>();
  /** Each sandbox's durable part (model/durable-part.ts) as last written durably. */
  private readonly durableWritten = new Map<string, string>();
  /** BERTH_STORE_VERIFY=1: every persist also checks that no changed record was left unmarked. */
  verifyPersist = false;
  followers: StateFollower[] = [];
  ports: PortAllocator | undefined;
  overlay: OverlayHooks | undefined;
  /** Sandboxes on other hosts the embedded DNS names (overlay networks); none on a single host. */
  remoteNames: () => readonly RemoteName[] = () => [];
  host!: HostFacts;

  constructor(
    readonly cfg: DaemonConfig,
    readonly store: Store,
    public state: BerthState,
    readonly log: Logger,
  ) {}

  /** Remembers the store's content as loaded, so the first persist writes only changes. */
  loaded(): void {
    for (const n of Object.values(this.state.networks)) this.written.set(`n/${n.id}`, JSON.stringify(n));
    for (const s of Object.values(this.state.sandboxes)) {
      this.written.set(`s/${s.id}`, JSON.stringify(s));
      this.durableWritten.set(s.id, durablePartOf(s));
    }
    for (const v of Object.values(this.state.services ?? {})) this.written.set(`v/${v.id}`, JSON.stringify(v));
    for (const id of Object.keys(this.state.catalog?.services ?? {})) this.written.set(`c/${id}`, JSON.stringify(catalogRecordOf(this.state.catalog, id)));
    this.written.set('meta', JSON.stringify(metaOf(this.state)));
  }

  /** Marks catalog registrations as changed (or removed) for the next persist. */
  touchCatalog(...ids: string[]): void {
    for (const id of ids) this.dirtyCatalog.add(id);
  }

  /** The stored records of these catalog registrations (those still registered). */
  private catalogRecords(ids: Iterable<string>): Record<string, CatalogRecord> {
    const out: Record<string, CatalogRecord> = {};
    for (const id of ids) {
      const r = catalogRecordOf(this.state.catalog, id);
      if (r) out[id] = r;
    }
    return out;
  }

  /** Marks records as changed (or removed, when no longer in state) for the next persist. */
  touch(...recs: Rec[]): void {
    for (const r of recs) (isSandbox(r) ? this.dirtySandboxes : isService(r) ? this.dirtyServices : this.dirtyNetworks).add(r.id);
  }

  /**
   * Writes the records marked with touch (and those given here) and the meta record if it
   * changed: only what changed, each file atomically and durably, before the caller answers
   * (a new sandbox, or a change of its runtime state alone, skips the directory's fsync:
   * model/durable-part.ts).
   */
  async persist(...recs: Rec[]): Promise<void> {
    this.touch(...recs);
    if (this.verifyPersist) this.checkUnmarked();
    const change: StoreChange = { putNetworks: [], deleteNetworks: [], putSandboxes: [], deleteSandboxes: [], putServices: [], deleteServices: [], putCatalog: [], deleteCatalog: [] };
    const after = new Map<string, string | undefined>();
    const diff = <T,>(kind: 'n' | 's' | 'v' | 'c', ids: Set<string>, all: Record<string, T>, put: T[], del: string[]) => {
      for (const id of ids) {
        const key = `${kind}/${id}`;
        const rec = all[id];
        const text = rec ? JSON.stringify(rec) : undefined;
        if (text === this.written.get(key)) continue;
        if (rec) put.push(rec);
        else del.push(id);
        after.set(key, text);
      }
      ids.clear();
    };
    diff('n', this.dirtyNetworks, this.state.networks, change.putNetworks, change.deleteNetworks);
    diff('s', this.dirtySandboxes, this.state.sandboxes, change.putSandboxes, change.deleteSandboxes);
    diff('v', this.dirtyServices, this.state.services ?? {}, change.putServices!, change.deleteServices!);
    diff('c', this.dirtyCatalog, this.catalogRecords(this.dirtyCatalog), change.putCatalog!, change.deleteCatalog!);
    const meta = JSON.stringify(metaOf(this.state));
    if (meta !== this.written.get('meta')) {
      change.meta = metaOf(this.state);
      after.set('meta', meta);
    }
    if (after.size === 0) return;
    // Sandboxes whose write need not fsync the directory: new ones, and those whose change is
    // runtime state only (model/durable-part.ts says why).
    const durableParts = new Map(change.putSandboxes.map((sb) => [sb.id, durablePartOf(sb)]));
    change.noDirSync = new Set(change.putSandboxes.filter((sb) => !needsDirSync(this.durableWritten.get(sb.id), sb)).map((sb) => sb.id));
    let stats;
    try {
      stats = await this.store.apply(change);
    } catch (err) {
      // Not written (or not all): keep them marked, so the next persist tries again.
      for (const k of after.keys()) if (k !== 'meta') (k.startsWith('n/') ? this.dirtyNetworks : k.startsWith('v/') ? this.dirtyServices : k.startsWith('c/') ? this.dirtyCatalog : this.dirtySandboxes).add(k.slice(2));
      throw err;
    }
    for (const [k, v] of after) if (v === undefined) this.written.delete(k); else this.written.set(k, v);
    for (const [id, part] of durableParts) this.durableWritten.set(id, part);
    for (const id of change.deleteSandboxes) this.durableWritten.delete(id);
    this.log('debug', `store: wrote ${stats.files} file(s), ${stats.bytes} bytes, ${stats.fsyncs} fsyncs`);
  }

  /** Marks every record that differs from what the store holds (reconcile, and the checks). */
  touchAllChanged(): string[] {
    const missed: string[] = [];
    const check = (kind: 'n' | 's' | 'v' | 'c', all: Record<string, Rec | CatalogRecord>, dirty: Set<string>) => {
      const ids = new Set(Object.keys(all));
      for (const k of this.written.keys()) if (k.startsWith(`${kind}/`)) ids.add(k.slice(2));
      for (const id of ids) {
        const rec = all[id];
        if (dirty.has(id) || (rec ? JSON.stringify(rec) : undefined) === this.written.get(`${kind}/${id}`)) continue;
        dirty.add(id);
        missed.push(`${kind === 'n' ? 'network' : kind === 'v' ? 'service' : kind === 'c' ? 'catalog registration' : 'sandbox'} ${rec && 'name' in rec ? rec.name : id}`);
      }
    };
    check('n', this.state.networks, this.dirtyNetworks);
    check('s', this.state.sandboxes, this.dirtySandboxes);
    check('v', this.state.services ?? {}, this.dirtyServices);
    check('c', this.catalogRecords(Object.keys(this.state.catalog?.services ?? {})), this.dirtyCatalog);
    return missed;
  }

  private checkUnmarked(): void {
    const missed = this.touchAllChanged();
    if (missed.length) this.log('error', `store: changed without being marked (a berth bug; written anyway): ${missed.join(', ')}`);
  }

  /**
   * Lets the firewall, the DNS and the other followers follow the current state, in the order they
   * were added, except that followers marked `independent` next to each other run at once (the
   * firewall and the DNS: neither reads what the other makes). Every sync of such a group is
   * waited for before its first failure is thrown, so a rollback's follow() never overlaps one
   * still running.
   */
  async follow(): Promise<void> {
    let group: StateFollower[] = [];
    const runGroup = async () => {
      const results = await Promise.allSettled(group.map((f) => f.sync(this.state)));
      group = [];
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    };
    for (const f of this.followers) {
      if (f.independent) {
        group.push(f);
        continue;
      }
      if (group.length) await runGroup();
      await f.sync(this.state);
    }
    if (group.length) await runGroup();
  }

  netnsPath(sandboxId: string): string {
    return join(this.cfg.execRoot, 'netns', sandboxId.slice(0, 12));
  }

  sandboxDir(sandboxId: string): string {
    return join(this.cfg.dataRoot, 'sandboxes', sandboxId);
  }

  network(ref: string): NetworkRecord {
    const nets = Object.values(this.state.networks);
    const exact = nets.find((n) => n.id === ref) ?? nets.find((n) => n.name === ref);
    if (exact) return exact;
    const byPrefix = ref.length >= 1 && /^[0-9a-f]+$/.test(ref) ? nets.filter((n) => n.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw new BadRequest(`network ${ref} is ambiguous (${byPrefix.length} matches found)`);
    throw new NotFound(`network ${ref} not found`);
  }

  /**
   * name -> id of the sandboxes, for lookups by name without a pass over every sandbox per API
   * call. Not kept up to date by the code that adds, renames or removes sandboxes: each hit is
   * checked against the state, and a miss rebuilds it once (one pass) before it is believed.
   */
  private sandboxNames = new Map<string, string>();

  private sandboxByName(name: string): SandboxRecord | undefined {
    const hit = this.sandboxNames.get(name);
    const rec = hit !== undefined ? this.state.sandboxes[hit] : undefined;
    if (rec?.name === name) return rec;
    this.sandboxNames = new Map();
    let found: SandboxRecord | undefined;
    for (const id in this.state.sandboxes) {
      const s = this.state.sandboxes[id]!;
      // The first of a name wins, as the scan it replaces did (names are unique anyway).
      if (!this.sandboxNames.has(s.name)) this.sandboxNames.set(s.name, id);
      if (s.name === name) found ??= s;
    }
    return found;
  }

  sandbox(ref: string): SandboxRecord {
    const byId = Object.hasOwn(this.state.sandboxes, ref) ? this.state.sandboxes[ref] : undefined;
    if (byId?.id === ref) return byId;
    const exact = this.sandboxByName(ref.startsWith('/') ? ref.slice(1) : ref);
    if (exact) return exact;
    if (/^[0-9a-f]+$/.test(ref)) {
      let only: SandboxRecord | undefined;
      let count = 0;
      for (const id in this.state.sandboxes) {
        const s = this.state.sandboxes[id]!;
        if (s.id.startsWith(ref) && count++ === 0) only = s;
      }
      if (count === 1) return only!;
    }
    throw new NotFound(`No such container: ${ref}`);
  }
}
