// The cluster store: this host's membership in etcd (npm etcd3). The local record store stays
// where sandboxes and local networks live; what other hosts must see goes here, bound to this
// host's lease so that it disappears when the host does.
//
// Keys (docs/overlay.md):
//   /berth/hosts/<node name>       {name, addr, joinedAt, leaseId}     on the host's lease
//   /berth/networks/<id>           OverlayNetworkSpec                  no lease
//   /berth/netlock                 bumped by every network create      (compare-and-swap)
//   /berth/endpoints/<net>/<ip>    OverlayEndpoint                     on its host's lease:
//                                  created by compare-and-swap, so it is also the address claim
//                                  (a service VIP's claim has no lease: kind 'vip')
//   /berth/services/<name>         ServiceRecord (services across hosts) no lease; created by CAS
//   /berth/assign/<service id>     {slot: node}                        written by the leader only
//   /berth/tasks/<svc id>/<slot>/<node>  RemoteTask                    on the running host's lease
//   /berth/leader                  node name                           the leader's lease (CAS)
//
// Every unary call has a deadline (cfg.callDeadlineMs; etcd3 has none by default, and a stopped
// member then hangs a call forever). A failed call becomes ClusterUnavailable (503) naming etcd.
import { Etcd3, type Lease, type Watcher } from 'etcd3';
import type { OverlayEndpoint, OverlayNetworkSpec } from '../plan/overlay-plan.js';
import type { ClusterConfig } from '../model/cluster-config.js';
import { BerthError, Conflict } from '../model/errors.js';
import type { Ipv4 } from '../model/types.js';

export const ROOT = '/berth/';
export const HOSTS_PREFIX = '/berth/hosts/';
export const NETWORKS_PREFIX = '/berth/networks/';
export const ENDPOINTS_PREFIX = '/berth/endpoints/';
export const SERVICES_PREFIX = '/berth/services/';
export const ASSIGN_PREFIX = '/berth/assign/';
export const TASKS_PREFIX = '/berth/tasks/';
export const LEADER_KEY = '/berth/leader';
export const NETLOCK_KEY = '/berth/netlock';
export const UPDATING_PREFIX = '/berth/updating/';
const NETLOCK = NETLOCK_KEY;

export function endpointKey(networkId: string, ip: string): string {
  return `${ENDPOINTS_PREFIX}${networkId}/${ip}`;
}

/** The JSON values of a snapshot's keys under `prefix`, with their keys (others' junk skipped). */
export function parseUnder<T>(kvs: ReadonlyMap<string, string>, prefix: string): Array<[string, T]> {
  const out: Array<[string, T]> = [];
  for (const [k, v] of kvs) {
    if (!k.startsWith(prefix)) continue;
    try {
      out.push([k, JSON.parse(v) as T]);
    } catch {
      // not ours to interpret (a foreign writer); ignored
    }
  }
  return out;
}

/** What the cluster store holds under /berth/, at one revision. */
export interface ClusterSnapshot {
  revision: string;
  kvs: Map<string, string>;
}

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
  private watcher: Watcher | undefined;
  /** Keys on this host's lease, with their values: written again on a new lease. */
  private readonly owned = new Map<string, string>();
  /** Of those, the addresses of local sandboxes (claimEndpoint). */
  private readonly claimed = new Set<string>();

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

  /**
   * Runs one etcd operation; any failure becomes ClusterUnavailable. A call the client could not
   * even send (gRPC UNAVAILABLE "No connection established": the member it picked is down) is
   * tried again, on another member, as long as the endpoints last: with one member of three
   * down, a call must not fail because it was sent there first. Nothing was sent, so a write is
   * never applied twice.
   */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        this.log('debug', `etcd ${what}: ${(e as Error).message}`);
        if (notSent(e) && attempt < this.cfg.endpoints.length) continue;
        throw new ClusterUnavailable(this.cfg.endpoints, e);
      }
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
    for (const [k, v] of this.owned) await this.call('put endpoint', () => lease.put(k).value(v).exec());
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

  /** Everything under /berth/ at one revision. */
  async snapshot(): Promise<ClusterSnapshot> {
    const res = await this.call('list', () => this.client.getAll().prefix(ROOT).exec());
    const kvs = new Map<string, string>();
    for (const kv of res.kvs) kvs.set(kv.key.toString(), kv.value.toString());
    return { revision: String(res.header.revision), kvs };
  }

  /** Creates a network by compare-and-swap over the whole set: `build` sees every network and
   * returns the new one (name, subnet and VNI checked against them); a concurrent create on
   * another host makes the txn fail and the whole thing is tried again. */
  async createNetwork(build: (existing: OverlayNetworkSpec[]) => OverlayNetworkSpec): Promise<OverlayNetworkSpec> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const res = await this.call('list networks', () => this.client.getAll().prefix(NETWORKS_PREFIX).exec());
      const lock = await this.call('get netlock', () => this.client.get(NETLOCK).exec());
      const modRev = lock.kvs[0]?.mod_revision ?? '0';
      const existing = res.kvs.map((kv) => JSON.parse(kv.value.toString()) as OverlayNetworkSpec);
      const spec = build(existing);
      const txn = await this.call('create network', () =>
        this.client
          .if(NETLOCK, 'Mod', '==', Number(modRev))
          .then(this.client.put(NETWORKS_PREFIX + spec.id).value(JSON.stringify(spec)), this.client.put(NETLOCK).value(spec.id))
          .commit(),
      );
      if (txn.succeeded) return spec;
    }
    throw new BerthError(503, 'cluster store: network create kept conflicting with other hosts; try again');
  }

  /** Removes a network that no host has an endpoint on. */
  async removeNetwork(spec: OverlayNetworkSpec): Promise<void> {
    const eps = await this.call('list endpoints', () => this.client.getAll().prefix(`${ENDPOINTS_PREFIX}${spec.id}/`).strings());
    const users = Object.values(eps).map((v) => {
      const e = JSON.parse(v) as OverlayEndpoint;
      return e.kind === 'vip' ? `service ${e.name}` : e.kind === 'mesh' ? `routing mesh of ${e.host}` : `${e.name} on ${e.host}`;
    });
    if (users.length) throw new Conflict(`error while removing network: network ${spec.name} id ${spec.id} has active endpoints (${users.join(', ')})`);
    await this.call('delete network', () => this.client.delete().key(NETWORKS_PREFIX + spec.id).exec());
  }

  /** Claims an address on an overlay network for a local endpoint: true if it is ours now
   * (also when a retried txn had already made it ours: etcd#18424), false if another holds it. */
  async claimEndpoint(ep: OverlayEndpoint): Promise<boolean> {
    if (!this.lease) throw new ClusterUnavailable(this.cfg.endpoints, new Error('not joined (no lease)'));
    const key = endpointKey(ep.networkId, ep.ip);
    const value = JSON.stringify(ep);
    const leaseId = this.leaseId;
    const txn = await this.call('claim address', () =>
      this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value).lease(leaseId)).else(this.client.get(key)).commit(),
    );
    let ok = txn.succeeded;
    if (!ok) {
      const held = txn.responses[0]?.response_range?.kvs?.[0]?.value?.toString();
      ok = held !== undefined && (JSON.parse(held) as OverlayEndpoint).sandboxId === ep.sandboxId;
      // Ours already (a retried txn, or a berthd restarted while its sandboxes ran): bind it to
      // the current lease, or it expires with the previous berthd's.
      if (ok) await this.call('claim address', () => this.client.put(key).value(value).lease(leaseId).exec());
    }
    if (ok) {
      this.owned.set(key, value);
      this.claimed.add(key);
    }
    return ok;
  }

  /** Gives an address back (only our own claim is deleted). */
  async releaseEndpoint(key: string): Promise<void> {
    this.owned.delete(key);
    this.claimed.delete(key);
    const leaseId = this.leaseId;
    if (!leaseId) return;
    await this.call('release address', () => this.client.if(key, 'Lease', '==', leaseId).then(this.client.delete().key(key)).commit());
  }

  /** Keys of the addresses local sandboxes hold. */
  ownedKeys(): string[] {
    return [...this.claimed];
  }

  // ---- services across hosts ------------------------------------------------------------

  private requireLease(): string {
    if (!this.leaseId) throw new ClusterUnavailable(this.cfg.endpoints, new Error('not joined (no lease)'));
    return this.leaseId;
  }

  /** Claims an address for good (no lease: a service VIP outlives any host). True if it is ours:
   * free before, or already holding the same value (a retried txn). */
  async claimForever(key: string, value: string): Promise<boolean> {
    const txn = await this.call('claim address', () =>
      this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value)).else(this.client.get(key)).commit(),
    );
    return txn.succeeded || txn.responses[0]?.response_range?.kvs?.[0]?.value?.toString() === value;
  }

  /** Claims an address on this host's lease that is not a sandbox's (the mesh address). */
  async claimOnLease(key: string, value: string): Promise<boolean> {
    const leaseId = this.requireLease();
    const txn = await this.call('claim address', () =>
      this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value).lease(leaseId)).else(this.client.get(key)).commit(),
    );
    const ok = txn.succeeded || txn.responses[0]?.response_range?.kvs?.[0]?.value?.toString() === value;
    if (ok && !txn.succeeded) await this.call('claim address', () => this.client.put(key).value(value).lease(leaseId).exec());
    if (ok) this.owned.set(key, value);
    return ok;
  }

  /** Creates a key only if it does not exist (a service's name is its key: unique). */
  async createOnce(key: string, value: string): Promise<boolean> {
    const txn = await this.call('create', () => this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value)).commit());
    return txn.succeeded;
  }

  /** Creates a key on this host's lease only if it does not exist (a rolling-update token: it
   * goes with the host). Not kept in `owned`: after a new lease the token is simply gone. */
  async createOnLease(key: string, value: string): Promise<boolean> {
    const leaseId = this.requireLease();
    const txn = await this.call('create', () => this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value).lease(leaseId)).commit());
    return txn.succeeded;
  }

  /** Replaces a key's value only if it still holds `expected` (a read-modify-write of a service). */
  async replaceIf(key: string, expected: string, value: string): Promise<boolean> {
    const txn = await this.call('put', () => this.client.if(key, 'Value', '==', expected).then(this.client.put(key).value(value)).commit());
    return txn.succeeded;
  }

  async put(key: string, value: string): Promise<void> {
    await this.call('put', () => this.client.put(key).value(value).exec());
  }

  /** Deletes keys (and every key under the given prefixes) in one transaction. */
  async deleteAll(keys: readonly string[], prefixes: readonly string[] = []): Promise<void> {
    const ops = [...keys.map((k) => this.client.delete().key(k)), ...prefixes.map((p) => this.client.delete().prefix(p))];
    await this.call('delete', () => this.client.if(LEADER_KEY, 'Version', '>', -1).then(...ops).commit());
  }

  /** Puts a key on this host's lease (a replica's record): written again after a new lease. */
  async putOnLease(key: string, value: string): Promise<void> {
    const leaseId = this.requireLease();
    this.owned.set(key, value);
    await this.call('put', () => this.client.put(key).value(value).lease(leaseId).exec());
  }

  async deleteOwned(key: string): Promise<void> {
    this.owned.delete(key);
    await this.call('delete', () => this.client.delete().key(key).exec());
  }

  /** Becomes the leader if nobody is: the key lives on this host's lease. Returns the holder. */
  async campaign(): Promise<string> {
    const leaseId = this.requireLease();
    const me = this.cfg.nodeName;
    const txn = await this.call('campaign', () =>
      this.client.if(LEADER_KEY, 'Create', '==', 0).then(this.client.put(LEADER_KEY).value(me).lease(leaseId)).else(this.client.get(LEADER_KEY)).commit(),
    );
    if (txn.succeeded) return me;
    return txn.responses[0]?.response_range?.kvs?.[0]?.value?.toString() ?? '';
  }

  /** Writes assignments only while this host holds the leader key on its current lease: a host
   * that lost it (lease expired, another elected) cannot place anything. */
  async putAsLeader(puts: ReadonlyMap<string, string>, deletes: readonly string[]): Promise<boolean> {
    const leaseId = this.requireLease();
    const ops = [...[...puts].map(([k, v]) => this.client.put(k).value(v)), ...deletes.map((k) => this.client.delete().key(k))];
    if (!ops.length) return true;
    const txn = await this.call('place', () => this.client.if(LEADER_KEY, 'Lease', '==', leaseId).then(...ops).commit());
    return txn.succeeded;
  }

  /** Watches /berth/ from `revision`+1. `onChange` gets each put (value) and delete (undefined);
   * `onReset` is called when the watch cannot resume (compacted revision): re-list then. */
  watch(revision: string, onChange: (key: string, value: string | undefined) => void, onReset: (why: string) => void): void {
    this.watcher?.cancel().catch(() => undefined);
    void this.client
      .watch()
      .prefix(ROOT)
      .startRevision(String(BigInt(revision) + 1n))
      .create()
      .then((w) => {
        if (this.closed) return void w.cancel().catch(() => undefined);
        this.watcher = w;
        w.on('put', (kv) => onChange(kv.key.toString(), kv.value.toString()));
        w.on('delete', (kv) => onChange(kv.key.toString(), undefined));
        w.on('disconnected', (e) => this.log('warn', `cluster: watch disconnected (${e.message}); resuming`));
        w.on('connected', () => this.log('debug', 'cluster: watch connected'));
        w.on('error', (e) => {
          this.log('warn', `cluster: watch ended (${e.message}); listing again`);
          onReset(e.message);
        });
      })
      .catch((e: Error) => onReset(e.message));
  }

  /** Stops keepalives without revoking: records stay for one TTL, so a quick berthd restart
   * does not make this host's sandboxes vanish from the others. */
  close(): void {
    this.closed = true;
    if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
    this.lease?.release();
    this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }
}

/** The client gave up before sending the request (no connection to the member it chose). */
function notSent(e: unknown): boolean {
  return e instanceof Error && /No connection established/.test(e.message);
}
