// The cluster store: this host's membership in etcd (npm etcd3). The local record store stays
// where sandboxes and local networks live; what other hosts must see goes here, bound to this
// host's lease so that it disappears when the host does.
//
// Keys (docs/overlay.md):
//   /berth/hosts/<node name>  {name, addr, joinedAt, leaseId}   on the host's lease
//
// Every unary call has a deadline (cfg.callDeadlineMs; etcd3 has none by default, and a stopped
// member then hangs a call forever). A failed call becomes ClusterUnavailable (503) naming etcd.
import { Etcd3, type Lease } from 'etcd3';
import type { ClusterConfig } from '../model/cluster-config.js';
import { BerthError } from '../model/errors.js';
import type { Ipv4 } from '../model/types.js';

export const HOSTS_PREFIX = '/berth/hosts/';

export interface NodeRecord {
  name: string;
  addr: Ipv4;
  /** ISO time the current lease was granted. */
  joinedAt: string;
  /** The etcd lease (decimal string) the record is bound to. */
  leaseId: string;
}

export interface NodeView extends NodeRecord {
  /** Seconds left on the lease, as etcd says; -1 if etcd no longer knows it. */
  ttlLeft: number;
  grantedTtl: number;
}

/** etcd could not be reached in time: cluster operations fail, local ones go on. */
export class ClusterUnavailable extends BerthError {
  constructor(endpoints: string[], cause: unknown) {
    super(503, `cluster store unreachable (etcd ${endpoints.join(',')}): ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;

export class ClusterStore {
  readonly client: Etcd3;
  private lease: Lease | undefined;
  private leaseId = '';
  private closed = false;
  private rejoinTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly cfg: ClusterConfig,
    private readonly log: Log,
  ) {
    const deadline = cfg.callDeadlineMs;
    this.client = new Etcd3({
      hosts: cfg.endpoints,
      dialTimeout: deadline,
      // Streams (watch, lease keepalive) have no deadline; every unary call has one.
      defaultCallOptions: (c) => (c.isStream ? {} : { deadline: Date.now() + deadline }),
    });
  }

  /** Runs one etcd operation; any failure becomes ClusterUnavailable. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      this.log('debug', `etcd ${what}: ${(e as Error).message}`);
      throw new ClusterUnavailable(this.cfg.endpoints, e);
    }
  }

  private record(): NodeRecord {
    return { name: this.cfg.nodeName, addr: this.cfg.advertiseAddr, joinedAt: new Date().toISOString(), leaseId: this.leaseId };
  }

  /** Grants a lease and writes this host's record on it. Fails (ClusterUnavailable) when etcd
   * cannot be reached in time, or (409) when another live host holds the name. */
  /** join(), and when etcd cannot be reached, keep trying every second in the background:
   * berthd starts and serves local operations either way. */
  async start(): Promise<void> {
    try {
      await this.join();
    } catch (e) {
      this.log('warn', `cluster: cannot join yet: ${(e as Error).message}; retrying`);
      if (!(e instanceof ClusterUnavailable)) throw e;
      this.scheduleRejoin();
    }
  }

  async join(): Promise<void> {
    const key = HOSTS_PREFIX + this.cfg.nodeName;
    const existing = await this.call('get host', () => this.client.get(key).string());
    if (existing !== null) {
      const other = JSON.parse(existing) as NodeRecord;
      if (other.addr !== this.cfg.advertiseAddr) {
        throw new BerthError(409, `node name "${this.cfg.nodeName}" is taken by the host at ${other.addr}: start berthd with another --node-name`);
      }
    }
    const lease = this.client.lease(this.cfg.leaseTtl, { autoKeepAlive: true });
    lease.on('lost', (err) => {
      if (this.closed || this.lease !== lease) return;
      this.log('warn', `cluster: lease ${this.leaseId} lost (${err.message}); joining again`);
      this.scheduleRejoin();
    });
    try {
      this.leaseId = await this.call('grant lease', () => lease.grant());
      this.lease = lease;
      await this.call('put host', () => lease.put(key).value(JSON.stringify(this.record())).exec());
    } catch (e) {
      lease.release();
      throw e;
    }
    this.log('info', `cluster: joined as ${this.cfg.nodeName} (${this.cfg.advertiseAddr}), lease ${this.leaseId} ttl ${this.cfg.leaseTtl}s`);
  }

  /** After a lost lease (etcd gone longer than the TTL): grant a new one and write our keys
   * again, every second until it works. Puts are idempotent. */
  private scheduleRejoin(): void {
    if (this.rejoinTimer || this.closed) return;
    this.rejoinTimer = setTimeout(() => {
      this.rejoinTimer = undefined;
      this.lease?.release();
      this.lease = undefined;
      this.join().catch((e: Error) => {
        this.log('warn', `cluster: joining again failed: ${e.message}`);
        this.scheduleRejoin();
      });
    }, 1000);
  }

  /** Every host with a live record, by name, with what etcd says of its lease. */
  async nodes(): Promise<NodeView[]> {
    const all = await this.call('list hosts', () => this.client.getAll().prefix(HOSTS_PREFIX).strings());
    const out: NodeView[] = [];
    for (const text of Object.values(all)) {
      let rec: NodeRecord;
      try {
        rec = JSON.parse(text) as NodeRecord;
      } catch {
        continue; // not ours to interpret; a foreign writer
      }
      const ttl = await this.call('lease ttl', () => this.client.leaseClient.leaseTimeToLive({ ID: rec.leaseId }));
      out.push({ ...rec, ttlLeft: Number(ttl.TTL), grantedTtl: Number(ttl.grantedTTL) });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Stops keepalives without revoking: records stay for one TTL, so a quick berthd restart
   * does not make this host's sandboxes vanish from the others. */
  close(): void {
    this.closed = true;
    if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
    this.lease?.release();
    this.client.close();
  }
}
