// Services across hosts when a host dies (issue 11, BENCHMARKS.md §11): 3 hosts, a service of 3
// replicas (one per host). A host that does not lead (with --kill-leader: the leader, so an
// election comes first) is killed (berthd SIGKILLed, its namespaces
// removed); measured from the kill, on a surviving host:
//   - gone: its replica's address is out of that host's VIP map (nft vip-backends), and
//   - replaced: its slot runs again, healthy, on a live host (service ps);
// against the lease TTL. One sample per run: run it several times.
// Run: npm run build && node dist/bench/service-failover.js [--ttl 4] [--kill-leader]
import { withCluster } from "../test/e2e/cluster-lab.js";
import { clusterReplicaCmd } from "../test/e2e/cluster-svc-helpers.js";
import type { Lab } from "../test/e2e/lab.js";

const i = process.argv.indexOf("--ttl");
const TTL = i > 0 ? Number(process.argv[i + 1]) : 4;
const KILL_LEADER = process.argv.includes("--kill-leader");

interface Row {
  Name: string;
  Node: string;
  CurrentState: string;
  Addresses: string;
}
async function ps(h: Lab): Promise<Row[]> {
  const r = await h.berth(["service", "ps", "web", "--format", "json"]);
  return r.code === 0 ? r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Row) : [];
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await withCluster("msf", { hosts: 3, leaseTtl: TTL }, async (c) => {
  const hosts = c.hosts as [Lab, Lab, Lab];
  await hosts[0].berthOk(["network", "create", "-d", "overlay", "--subnet", "10.74.0.0/24", "ovf"]);
  for (const h of hosts.slice(1)) while ((await h.berth(["network", "inspect", "ovf"])).code !== 0) await sleep(100);
  await hosts[0].berthOk(["service", "create", "--name", "web", "--replicas", "3", "--network", "ovf", "--health-tcp", "80", "--health-interval", "300ms", "--", ...clusterReplicaCmd(c, 80)]);
  let rows: Row[] = [];
  for (let t = 0; ; t++) {
    rows = await ps(hosts[0]);
    if (rows.length === 3 && rows.every((r) => /\(healthy\)/.test(r.CurrentState)) && new Set(rows.map((r) => r.Node)).size === 3) break;
    if (t > 600) throw new Error(`web not spread and healthy: ${JSON.stringify(rows)}`);
    await sleep(100);
  }
  const leader = (await c.etcdctl(["get", "--print-value-only", "/berth/leader"])).stdout.trim();
  const victim = [0, 1, 2].find((k) => (`h${k + 1}` === leader) === KILL_LEADER)!;
  const watcher = hosts[[0, 1, 2].find((k) => k !== victim)!]!;
  const dead = rows.find((r) => r.Node === `h${victim + 1}`)!;
  const deadIp = dead.Addresses.split("=")[1]!.split("/")[0]!;
  const vipMap = async () => (await watcher.inHost(["nft", "list", "map", "inet", "berth", "vip-backends"])).stdout;
  if (!(await vipMap()).includes(`: ${deadIp}`)) throw new Error(`${deadIp} not in ${watcher.name}'s VIP map before the kill`);
  const t0 = Date.now();
  await c.killHost(victim);
  let gone = 0;
  let replaced = 0;
  while (!gone || !replaced) {
    if (!gone && !(await vipMap()).includes(`: ${deadIp}`)) gone = Date.now() - t0;
    if (!replaced) {
      const now = await ps(watcher);
      const slot = now.find((r) => r.Name === dead.Name);
      if (slot && slot.Node !== dead.Node && /\(healthy\)/.test(slot.CurrentState)) replaced = Date.now() - t0;
    }
    if (Date.now() - t0 > 120_000) throw new Error("not converged in 120 s");
    await sleep(50);
  }
  console.log(`host h${victim + 1} killed (leader ${leader}, lease TTL ${TTL} s): its replica out of ${watcher.name}'s VIP map after ${gone} ms; ${dead.Name} running healthy on a live host after ${replaced} ms`);
});
