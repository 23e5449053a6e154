// GET /nodes: the hosts of the cluster, in the shape of Docker's node list (the fields berth has).
import { BerthError } from '../model/errors.js';
import type { ClusterStore } from '../store/cluster-store.js';

/** Docker's answer on a host outside a swarm is 503 with a message saying how to join. */
export class NotInCluster extends BerthError {
  constructor() {
    super(503, 'This node is not part of a cluster. Start berthd with --cluster-store etcd://HOST:PORT[,...] --advertise-addr IP to join one.');
  }
}

export async function nodeList(cluster: ClusterStore | undefined): Promise<Record<string, unknown>[]> {
  if (!cluster) throw new NotInCluster();
  const self = cluster.cfg.nodeName;
  return (await cluster.nodes()).map((n) => ({
    ID: n.name,
    Self: n.name === self,
    CreatedAt: n.joinedAt,
    Description: { Hostname: n.name },
    Status: { State: n.ttlLeft > 0 ? 'ready' : 'down', Addr: n.addr },
    Lease: { ID: n.leaseId, TTL: n.ttlLeft, GrantedTTL: n.grantedTtl },
  }));
}
