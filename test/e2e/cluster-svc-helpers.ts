// Helpers of the services-across-hosts suites (740, 750).
import { join } from "node:path";
import type { Cluster } from "./cluster-lab.js";
import { fixturePath } from "./lab.js";

/** A replica command: a TCP peer server on PORT reporting the client and local address. Its hits
 * file is in the cluster's dir, not a host's: a host that dies takes its own dir with it. */
export function clusterReplicaCmd(c: Cluster, port: number): string[] {
  return ["sh", "-c", `exec ${process.execPath} ${fixturePath("peer-server")} --proto tcp --port ${port} --hits ${join(c.dir, "svc.hits")}`];
}
