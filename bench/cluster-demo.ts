// The multi-host demo (bash scripts/demo.sh --cluster): a 3-host lab with a 3-member etcd, all in
// throw-away namespaces (test/e2e/cluster-lab.ts), and the overlay flow shown command by command:
// an overlay network, a sandbox reached by name across hosts, a service across hosts reached on
// its published port from every host (the replica sees the client), a host that dies.
// Everything is removed at the end.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostUnderlayIp, withCluster } from "../test/e2e/cluster-lab.js";
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

  // A service across hosts: two replicas (not on h3), published on 8080 of every host. A CGI
  // answers which replica served and which client address it saw.
  const www = join(c.dir, "www");
  mkdirSync(join(www, "cgi-bin"), { recursive: true });
  writeFileSync(join(www, "cgi-bin", "who"), '#!/bin/sh\na=${REMOTE_ADDR#[::ffff:}; a=${a%]}\nprintf "Content-Type: text/plain\\r\\n\\r\\nreplica %s saw client %s\\n" "$(hostname -i)" "$a"\n');
  chmodSync(join(www, "cgi-bin", "who"), 0o755);
  await show(h2, "h2", ["service", "create", "--name", "hello", "--replicas", "2", "--network", "ov1", "--constraint", "node.name!=h3", "-p", "8080:80", "--health-tcp", "80", "--health-interval", "500ms", "--", "busybox", "httpd", "-f", "-p", "80", "-h", www]);
  for (let t = 0; t < 120; t++) {
    const ps = await h1.berth(["service", "ps", "hello", "--format", "json"]);
    if ((ps.stdout.match(/\(healthy\)/g) ?? []).length === 2) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await show(h3, "h3", ["service", "ps", "hello"]);
  await show(h1, "h1", ["service", "ls"]);
  console.log(bold("from a sandbox on h3 (which runs no replica), by name through the VIP:"));
  await show(h3, "h3", ["run", "--rm", "--network", "ov1", "--", "busybox", "wget", "-qO-", "http://hello/cgi-bin/who"]);
  const outside = `/run/netns/${c.underlayNs}`;
  for (const i of [1, 2, 3]) {
    const url = `http://${hostUnderlayIp(i)}:8080/cgi-bin/who`;
    console.log(bold(`[a client on the underlay, 10.99.0.254] $ curl ${url}   (h${i}${i === 3 ? ": no replica here" : ""})`));
    for (let k = 0; k < 2; k++) {
      const r = await h1.inNs(outside, ["curl", "-sS", "-m", "3", url], { timeoutMs: 10_000 });
      process.stdout.write(r.code === 0 ? r.stdout : `failed (${r.code}): ${r.stdout} ${r.stderr}\n`);
      if (r.code !== 0) throw new Error(`${url} did not answer`);
    }
  }

  console.log(bold("h2 dies (berthd SIGKILLed, its namespaces removed); after the lease TTL its replica runs again on h1:"));
  await c.killHost(1);
  for (let t = 0; t < 120; t++) {
    const ps = await h1.berth(["service", "ps", "hello", "--format", "json"]);
    if ((ps.stdout.match(/"Node":"h1"[^}]*\(healthy\)/g) ?? []).length === 2) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await show(h1, "h1", ["node", "ls"]);
  await show(h3, "h3", ["service", "ps", "hello"]);
  const url = `http://${hostUnderlayIp(3)}:8080/cgi-bin/who`;
  console.log(bold(`[a client on the underlay, 10.99.0.254] $ curl ${url}`));
  const r = await h1.inNs(outside, ["curl", "-sS", "-m", "3", url], { timeoutMs: 10_000 });
  process.stdout.write(r.code === 0 ? r.stdout : `failed: ${r.stderr}`);
});
console.log("\ncluster lab removed");
