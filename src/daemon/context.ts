// What every daemon operation works with: configuration, the in-memory state (the store's
// mirror), the single-writer lock, the logger, and the hooks into the firewall and DNS.
import { join } from 'node:path';
import { NotFound, BadRequest } from '../model/errors.js';
import type { BerthState, NetworkRecord, PortBinding, SandboxRecord } from '../model/types.js';
import type { Store } from '../store/store.js';
import type { DaemonConfig } from './config.js';
import type { Logger } from './log.js';
import { Mutex } from './mutex.js';
import type { HostFacts } from '../plan/sandbox-files.js';

/** The parts of berth that follow the state: the firewall and the embedded DNS. */
export interface StateFollower {
  /** Brings the follower in line with state; throwing makes the caller roll its change back. */
  sync(state: BerthState): Promise<void>;
  /** At berthd start: rebuild in full (defaults to sync). */
  reconcile?(state: BerthState): Promise<void>;
}

export interface PortAllocator {
  /**
   * Host ports for a sandbox about to start, or whose publishing network changed (connect,
   * disconnect); throws a user error when a port is taken. `previous` bindings are kept where free.
   */
  allocate(state: BerthState, sb: SandboxRecord, previous?: readonly PortBinding[]): Promise<PortBinding[]>;
}

export class Ctx {
  readonly lock = new Mutex();
  followers: StateFollower[] = [];
  ports: PortAllocator | undefined;
  host!: HostFacts;

  constructor(
    readonly cfg: DaemonConfig,
    readonly store: Store,
    public state: BerthState,
    readonly log: Logger,
  ) {}

  async persist(): Promise<void> {
    await this.store.save(this.state);
  }

  /** Lets the firewall and DNS follow the current state. */
  async follow(): Promise<void> {
    for (const f of this.followers) await f.sync(this.state);
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

  sandbox(ref: string): SandboxRecord {
    const all = Object.values(this.state.sandboxes);
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const exact = all.find((s) => s.id === ref) ?? all.find((s) => s.name === name);
    if (exact) return exact;
    const byPrefix = /^[0-9a-f]+$/.test(ref) ? all.filter((s) => s.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    throw new NotFound(`No such container: ${ref}`);
  }
}
