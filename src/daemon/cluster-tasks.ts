// This host's replicas of services across hosts, reported to the others: one record per replica
// under /berth/tasks/<service id>/<slot>/<node> on this host's lease (so they go with the host),
// written in the background (a start or a health change never waits for etcd), retried every
// second while etcd fails. The other hosts' VIP maps, DNS, catalog and mesh follow these records.
import type { Ipv4, RemoteTask, SandboxRecord } from '../model/types.js';
import { inRotation, LABEL_SERVICE_ID, LABEL_SERVICE_VERSION, slotOf } from '../plan/service-view.js';
import { type ClusterStore, TASKS_PREFIX } from '../store/cluster-store.js';
import type { Ctx, StateFollower } from './context.js';

export function taskStateOf(sb: SandboxRecord): RemoteTask['state'] {
  if (sb.state.status === 'running') return 'running';
  if (sb.state.status === 'created') return 'starting';
  return sb.state.exitCode === 0 ? 'complete' : 'failed';
}

export class TaskReporter implements StateFollower {
  /** Replica records this host wrote (key -> value) and the ones it wants written. */
  private published = new Map<string, string>();
  private wanted = new Map<string, string>();
  private publishing = false;
  private publishAgain = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly store: ClusterStore,
  ) {}

  private get self(): string {
    return this.store.cfg.nodeName;
  }

  stop(): void {
    if (this.retry) clearTimeout(this.retry);
  }

  async sync(): Promise<void> {
    const want = new Map<string, string>();
    const state = this.ctx.state;
    for (const sb of Object.values(state.sandboxes)) {
      const svcId = sb.config.labels?.[LABEL_SERVICE_ID];
      const svc = svcId ? state.services?.[svcId] : undefined;
      if (!svc?.cluster) continue;
      const ips: Record<string, Ipv4> = {};
      for (const ep of Object.values(sb.endpoints)) if (ep.ip) ips[ep.networkId] = ep.ip;
      const task: RemoteTask = {
        serviceId: svc.id,
        name: sb.name,
        slot: slotOf(sb),
        node: this.self,
        sandboxId: sb.id,
        ips,
        state: taskStateOf(sb),
        ...(sb.state.health ? { health: sb.state.health.status } : {}),
        inRotation: inRotation(sb),
        startedAt: sb.state.startedAt ?? sb.created,
        version: Number(sb.config.labels?.[LABEL_SERVICE_VERSION] ?? 0),
      };
      want.set(`${TASKS_PREFIX}${svc.id}/${task.slot}/${this.self}`, JSON.stringify(task));
    }
    this.wanted = want;
    void this.publish();
  }

  /** Resolves when etcd holds what this host last wanted reported (the other hosts see it a watch
   * event later), or after `timeoutMs`: a rolling update waits for it before it goes on. */
  async settled(timeoutMs = 5000): Promise<boolean> {
    await this.sync();
    const limit = Date.now() + timeoutMs;
    while (Date.now() < limit) {
      if (!this.publishing && [...this.wanted].every(([k, v]) => this.published.get(k) === v) && [...this.published.keys()].every((k) => this.wanted.has(k))) return true;
      await new Promise((r) => setTimeout(r, 25));
    }
    return false;
  }

  /** Brings the replica records in etcd in line with `wanted`. */
  private async publish(): Promise<void> {
    if (this.publishing) {
      this.publishAgain = true;
      return;
    }
    this.publishing = true;
    try {
      do {
        this.publishAgain = false;
        for (const [k, v] of this.wanted) {
          if (this.published.get(k) === v) continue;
          await this.store.putOnLease(k, v);
          this.published.set(k, v);
        }
        for (const k of [...this.published.keys()]) {
          if (this.wanted.has(k)) continue;
          await this.store.deleteOwned(k);
          this.published.delete(k);
        }
      } while (this.publishAgain);
    } catch (e) {
      this.ctx.log('warn', `cluster: reporting replicas failed (${(e as Error).message}); retrying`);
      if (!this.retry) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          void this.publish();
        }, 1000);
        this.retry.unref();
      }
    } finally {
      this.publishing = false;
    }
  }
}
