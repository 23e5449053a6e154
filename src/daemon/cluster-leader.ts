// The one host that places the replicas of services across hosts (docs/overlay.md): it holds
// /berth/leader on its lease (created by CAS), and its writes are one txn guarded by
// `Lease(/berth/leader) == its lease`, so a host that lost the key writes nothing and two hosts
// racing never both place. Every host campaigns when the key is gone (the watch) and every 2 s.
import type { ServiceRecord } from '../model/types.js';
import { type Assignment, place, sameAssignment } from '../plan/placement.js';
import { ASSIGN_PREFIX, type ClusterStore, HOSTS_PREFIX, LEADER_KEY, parseUnder, SERVICES_PREFIX } from '../store/cluster-store.js';
import type { Ctx } from './context.js';

export class Leader {
  private kvs: ReadonlyMap<string, string> = new Map();
  private assigned: ReadonlyMap<string, Assignment> = new Map();
  private leader = '';
  private placing = false;
  private placeAgain = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly store: ClusterStore,
  ) {}

  private get self(): string {
    return this.store.cfg.nodeName;
  }

  /** The latest snapshot and the placement in it. */
  update(kvs: ReadonlyMap<string, string>, assigned: ReadonlyMap<string, Assignment>): void {
    this.kvs = kvs;
    this.assigned = assigned;
    this.leader = kvs.get(LEADER_KEY) ?? '';
  }

  /** Campaigns if nobody leads; places if this host leads. One pass at a time. */
  async lead(): Promise<void> {
    if (this.placing) {
      this.placeAgain = true;
      return;
    }
    this.placing = true;
    try {
      do {
        this.placeAgain = false;
        if (!this.leader) {
          this.leader = await this.store.campaign();
          if (this.leader === this.self) this.ctx.log('info', 'cluster: this host now places the replicas of services across hosts (leader)');
        }
        if (this.leader !== this.self) return;
        await this.placeAll();
      } while (this.placeAgain);
    } catch (e) {
      this.ctx.log('warn', `cluster: placing replicas failed (${(e as Error).message}); retrying`);
    } finally {
      this.placing = false;
    }
  }

  private async placeAll(): Promise<void> {
    const nodes = parseUnder<{ name: string }>(this.kvs, HOSTS_PREFIX).map(([, h]) => h.name);
    const recs = parseUnder<ServiceRecord>(this.kvs, SERVICES_PREFIX).map(([, r]) => r);
    const next = place(
      recs.map((r) => ({ id: r.id, replicas: r.spec.replicas, constraints: r.spec.constraints ?? [] })),
      nodes,
      this.assigned,
    );
    const puts = new Map<string, string>();
    // Written also when empty (no live host allowed): service ps then says why nothing runs.
    for (const [id, a] of next) if (!this.assigned.has(id) || !sameAssignment(a, this.assigned.get(id))) puts.set(ASSIGN_PREFIX + id, JSON.stringify(a));
    const deletes = [...this.assigned.keys()].filter((id) => !next.has(id)).map((id) => ASSIGN_PREFIX + id);
    if (!puts.size && !deletes.length) return;
    if (await this.store.putAsLeader(puts, deletes)) {
      for (const [k, v] of puts) this.ctx.log('info', `cluster: placed ${k.slice(ASSIGN_PREFIX.length, ASSIGN_PREFIX.length + 12)}: ${v}`);
    } else {
      this.leader = ''; // another host leads now (or our lease changed): campaign again
    }
  }
}
