// The routing mesh's connection rate (issue 11, BENCHMARKS.md §11): one replica of a service
// across hosts runs on h1 (pinned), published on 8080. A client on the underlay opens new TCP
// connections (connect, read the replica's line, close; conn-loop fixture) to h1:8080 (a local
// replica: one hop) and to h2:8080 (no replica on h2: DNAT on h2, VXLAN to h1, the reply back
// through h2 by its conntrack mark), in alternating rounds so that load drift hits both alike.
// Reports connections/s per round, the medians and their ratio (goal: via h2 >= 0.8 x via h1).
// Run: npm run build && node dist/bench/mesh-rate.js [--rounds 4] [--ms 3000] [--workers 8]
import { hostUnderlayIp, withCluster } from "../test/e2e/cluster-lab.js";
import { clusterReplicaCmd } from "../test/e2e/cluster-svc-helpers.js";
import { fixturePath, type Lab } from "../test/e2e/lab.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg("rounds", 4);
const MS = arg("ms", 3000);
const WORKERS = arg("workers", 8);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await withCluster("msb", { hosts: 2, leaseTtl: 5 }, async (c) => {
  const [h1, h2] = c.hosts as [Lab, Lab];
  await h1.berthOk(["network", "create", "-d", "overlay", "--subnet", "10.73.0.0/24", "ovm"]);
  for (let t = 0; (await h2.berth(["network", "inspect", "ovm"])).code !== 0; t++) {
    if (t > 100) throw new Error("ovm not on h2 after 10 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  await h2.berthOk(["service", "create", "--name", "web", "--replicas", "1", "--network", "ovm", "--constraint", "node.name==h1", "-p", "8080:80", "--health-tcp", "80", "--health-interval", "500ms", "--", ...clusterReplicaCmd(c, 80)]);
  const client = `/run/netns/${c.underlayNs}`;
  const loop = async (host: number): Promise<{ rate: number; failed: number }> => {
    const r = await h1.inNs(client, [process.execPath, fixturePath("conn-loop"), hostUnderlayIp(host), "8080", "--workers", String(WORKERS), "--ms", String(MS)], { timeoutMs: MS + 20_000 });
    const lines = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { ok: boolean });
    const ok = lines.filter((l) => l.ok).length;
    return { rate: ok / (MS / 1000), failed: lines.length - ok };
  };
  // Wait until both hosts answer (the replica healthy, the mesh programmed).
  for (let t = 0; ; t++) {
    const a = await h1.tcpConnect(client, hostUnderlayIp(1), 8080, { timeoutMs: 1000 });
    const b = await h1.tcpConnect(client, hostUnderlayIp(2), 8080, { timeoutMs: 1000 });
    if (a.ok && b.ok && a.data.includes('"peer":"10.99.0.254"') && b.data.includes('"peer":"10.99.0.254"')) break;
    if (t > 200) throw new Error(`web not reachable on both hosts: ${JSON.stringify([a, b])}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const local: number[] = [];
  const mesh: number[] = [];
  let failed = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const a = await loop(1);
    const b = await loop(2);
    local.push(a.rate);
    mesh.push(b.rate);
    failed += a.failed + b.failed;
    console.log(`round ${i + 1}: via h1 (local replica) ${a.rate.toFixed(0)}/s, via h2 (no replica, mesh) ${b.rate.toFixed(0)}/s`);
  }
  const ratio = median(mesh) / median(local);
  console.log(`new TCP connections/s, ${WORKERS} at a time, ${MS} ms rounds x ${ROUNDS}: via h1 (local) median ${median(local).toFixed(0)}/s; via h2 (mesh, second hop) median ${median(mesh).toFixed(0)}/s; ratio ${ratio.toFixed(2)} (goal >= 0.8); failed connections ${failed}`);
});
