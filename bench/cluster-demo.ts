// The multi-host demo (bash scripts/demo.sh --cluster): a 3-host lab with a 3-member etcd, all in
// throw-away namespaces (test/e2e/cluster-lab.ts), and the overlay flow shown command by command.
// Everything is removed at the end.
import { withCluster } from "../test/e2e/cluster-lab.js";
import type { Lab } from "../test/e2e/lab.js";

const bold = (s: string) => `\n\x1b[1m${s}\x1b[0m`;

async function show(h: Lab, host: string, args: string[]): Promise<string> {
  console.log(bold(`[${host}] $ berth ${args.join(" ")}`));
  const r = await h.berth(args, { timeoutMs: 30_000 });
  process.stdout.write(r.stdout + r.stderr);
  if (r.code !== 0) throw new Error(`berth ${args.join(" ")} failed`);
  return r.stdout;
}

await withCluster("mhd", { hosts: 3, leaseTtl: 5 }, async (c) => {
  const [h1, h2, h3] = c.hosts as [Lab, Lab, Lab];
  console.log(`etcd members: ${c.etcdEndpoints}; hosts h1-h3 on the underlay 10.99.0.21-23, each with its own berthd:`);
  console.log(`  berthd ${c.clusterArgs(0).join(" ")}`);
  await show(h1, "h1", ["node", "ls"]);
  await show(h1, "h1", ["network", "create", "-d", "overlay", "--subnet", "10.0.9.0/24", "ov1"]);
  for (let t = 0; (await h3.berth(["network", "inspect", "ov1"])).code !== 0 && t < 100; t++) await new Promise((r) => setTimeout(r, 100));
  await show(h3, "h3", ["network", "ls"]);
  await show(h1, "h1", ["run", "-d", "--name", "web", "--network", "ov1", "--", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
  for (const [h, name] of [[h2, "h2"], [h3, "h3"]] as const) {
    for (let t = 0; t < 50; t++) {
      const r = await h.berth(["run", "--rm", "--network", "ov1", "--", "busybox", "wget", "-qO-", "-T", "2", "http://web/hostname"], { timeoutMs: 20_000 });
      if (r.code === 0) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    await show(h, name, ["run", "--rm", "--network", "ov1", "--", "busybox", "wget", "-qO-", "http://web/hostname"]);
  }
  console.log(bold("h3 dies (berthd SIGKILLed, its namespaces removed); after the lease TTL:"));
  await c.killHost(2);
  await new Promise((r) => setTimeout(r, 7000));
  await show(h1, "h1", ["node", "ls"]);
});
console.log("\ncluster lab removed");
