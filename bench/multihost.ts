// Multi-host measures (issue 11), in the e2e multi-host lab (3 etcd members, N berth hosts):
//   convergence: `berth run` on h1 -> the sandbox's FDB, neighbour and DNS entries in place on
//     the other hosts (each berthd logs "converged ... in X ms", measured from the etcd claim on
//     h1; one machine, one clock), and the user-visible time from `run` returning on h1 to a
//     sandbox on h2 resolving the name and getting a ping answer (polling, ~100-200 ms
//     granularity: an upper bound);
//   host death: SIGKILL a host (berthd and namespaces), time until its sandbox's name is gone
//     from another host's DNS, against the lease TTL.
// Run: npm run build && node dist/bench/multihost.js [--hosts 3] [--sandboxes 30] [--ttl 4]
import { withCluster } from "../test/e2e/cluster-lab.js";
import type { Lab } from "../test/e2e/lab.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const HOSTS = arg("hosts", 3);
const N = arg("sandboxes", 30);
const TTL = arg("ttl", 4);
const SLEEP = ["sleep", "600"];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (n=${xs.length})`;

async function answers(lab: Lab, ns: string, gw: string, name: string, ip: string): Promise<boolean> {
  const d = await lab.dnsQuery(ns, gw, name, { timeoutMs: 500 });
  return (d.answers ?? []).some((a) => a.endsWith(` ${ip}`));
}

async function resolvesAndPings(lab: Lab, ns: string, gw: string, name: string, ip: string): Promise<boolean> {
  if (!(await answers(lab, ns, gw, name, ip))) return false;
  return lab.ping(ns, ip);
}

await withCluster("mhb", { hosts: HOSTS, leaseTtl: TTL }, async (c) => {
  const [h1, h2] = c.hosts as [Lab, Lab];
  const hLast = c.hosts[HOSTS - 1]!;
  await h1.berthOk(["network", "create", "-d", "overlay", "--subnet", "10.0.9.0/24", "ovb"]);
  const gw = "10.0.9.1";
  for (const h of c.hosts.slice(1)) {
    for (let t = 0; (await h.berth(["network", "inspect", "ovb"])).code !== 0; t++) {
      if (t > 100) throw new Error(`ovb not on ${h.name} after 10 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await h2.berthOk(["run", "-d", "--name", "probe", "--network", "ovb", "--", ...SLEEP]);
  const probeNs = await h2.sandboxNs("probe");
  const visible: number[] = [];
  for (let i = 0; i < N; i++) {
    await h1.berthOk(["run", "-d", "--name", `s${i}`, "--network", "ovb", "--", ...SLEEP]);
    const t0 = Date.now();
    if (i < 10) {
      const j = JSON.parse(await h1.berthOk(["inspect", `s${i}`])) as Array<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>;
      const ip = j[0]!.NetworkSettings.Networks["ovb"]!.IPAddress;
      while (!(await resolvesAndPings(h2, probeNs, gw, `s${i}`, ip))) {
        if (Date.now() - t0 > 20_000) throw new Error(`s${i} not visible from h2 after 20 s`);
      }
      visible.push(Date.now() - t0);
    }
  }
  const converged: number[] = [];
  for (const h of c.hosts.slice(1)) {
    for (const m of h.berthdLog().matchAll(/overlay: converged s\d+ \S+ from h1 in (\d+) ms/g)) converged.push(Number(m[1]));
  }
  console.log(`convergence, ${HOSTS} hosts, claim on h1 -> FDB+neighbour+DNS on every other host: ${fmt(converged)}`);
  console.log(`user-visible, run returns on h1 -> h2 resolves and pings (polling): ${fmt(visible)}`);

  // Host death: the last host runs "victim"; h1's sandbox s0 stops resolving it.
  await hLast.berthOk(["run", "-d", "--name", "victim", "--network", "ovb", "--", ...SLEEP]);
  const j = JSON.parse(await hLast.berthOk(["inspect", "victim"])) as Array<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>;
  const vip = j[0]!.NetworkSettings.Networks["ovb"]!.IPAddress;
  const s0 = await h1.sandboxNs("s0");
  while (!(await answers(h1, s0, gw, "victim", vip))) await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  await c.killHost(HOSTS - 1);
  while (await answers(h1, s0, gw, "victim", vip)) {
    if (Date.now() - t0 > 60_000) throw new Error("victim still resolvable after 60 s");
  }
  console.log(`host death -> gone from another host's DNS: ${Date.now() - t0} ms with lease TTL ${TTL} s`);
});
