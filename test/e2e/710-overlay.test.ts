// S26: an overlay network spans the hosts. Created on h1, it is visible on h2 and h3 (driver
// overlay, scope swarm); sandboxes on different hosts get distinct addresses (also when started
// at once on two hosts), reach each other over VXLAN (ping, TCP with their own addresses) and
// resolve each other by name. A host that dies disappears from the others' DNS, FDB and
// neighbour tables within its lease TTL. Overlapping subnets are refused; rm is refused while
// any host has an endpoint, and then removes the network everywhere.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, withCluster } from "./cluster-lab.js";
import { ipOn, pingFrom } from "./foundation.js";
import type { Lab } from "./lab.js";
import { dig, show } from "./names-helpers.js";

const SLEEP = ["sleep", "600"];

async function netRow(lab: Lab, name: string): Promise<Record<string, unknown> | undefined> {
  const out = await lab.berthOk(["network", "ls", "--format", "json"]);
  return out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r["Name"] === name);
}

async function fdbMacs(lab: Lab, dev: string): Promise<string> {
  return (await lab.inHost(["bridge", "fdb", "show", "dev", dev])).stdout;
}

test("S26 overlay: visible on every host, distinct addresses, ping/TCP/DNS across hosts, host death cleans up", async () => {
  const ttl = 4;
  await withCluster("mho", { hosts: 3, leaseTtl: ttl }, async (c) => {
    const [h1, h2, h3] = c.hosts as [Lab, Lab, Lab];
    const id = (await h1.berthOk(["network", "create", "-d", "overlay", "--attachable", "ov1"])).trim();
    const row1 = await netRow(h1, "ov1");
    assert.equal(row1?.["Driver"], "overlay");
    assert.equal(row1?.["Scope"], "swarm");
    assert.equal(row1?.["Subnet"], "10.0.1.0/24");
    for (const h of [h2, h3]) {
      const row = await eventually(`ov1 on ${h.name}`, 10_000, () => netRow(h, "ov1"));
      assert.equal(row["ID"], id.slice(0, 12));
      assert.equal(row["Driver"], "overlay");
      assert.equal(row["Scope"], "swarm");
    }
    // The same name again, from another host, and an overlapping subnet: refused.
    const dup = await h2.berth(["network", "create", "-d", "overlay", "ov1"]);
    assert.match(dup.stderr, /network with name ov1 already exists/);
    const overlap = await h3.berth(["network", "create", "-d", "overlay", "--subnet", "10.0.1.128/25", "ov2"]);
    assert.match(overlap.stderr, /Pool overlaps with other one on this address space: 10\.0\.1\.128\/25 overlaps network ov1/);

    await h1.berthOk(["run", "-d", "--name", "sa", "--network", "ov1", "--", ...SLEEP]);
    await h2.berthOk(["run", "-d", "--name", "sb", "--network", "ov1", "--network-alias", "sbee", "--", ...SLEEP]);
    await h3.berthOk(["run", "-d", "--name", "sc", "--network", "ov1", "--", ...SLEEP]);
    const ipA = await ipOn(h1, "sa", "ov1");
    const ipB = await ipOn(h2, "sb", "ov1");
    const ipC = await ipOn(h3, "sc", "ov1");
    assert.equal(new Set([ipA, ipB, ipC]).size, 3, `distinct addresses: ${ipA} ${ipB} ${ipC}`);

    // Reach: ping both ways across hosts, TCP with the client's own address.
    await eventually("a pings b", 10_000, async () => ((await pingFrom(h1, "sa", ipB)) ? true : undefined));
    await eventually("c pings a", 10_000, async () => ((await pingFrom(h3, "sc", ipA)) ? true : undefined));
    const server = await h2.startServer(await h2.sandboxNs("sb"), { proto: "tcp", port: 7000 });
    const probe = await h1.tcpConnect(await h1.sandboxNs("sa"), ipB, 7000);
    assert.ok(probe.ok, `TCP a -> b:7000: ${JSON.stringify(probe)}`);
    assert.equal(server.hits().at(-1)?.peer, ipA, "b sees a's own address");
    // The data path is VXLAN between the hosts' underlay addresses: h1 has static FDB entries.
    assert.match(await fdbMacs(h1, `bvx${id.slice(0, 9)}`), /dst 10\.99\.0\.22 .*permanent/);

    // Names: each resolves the others (and aliases) through its host's embedded DNS.
    const gw = "10.0.1.1";
    const resolves = (h: Lab, from: string, name: string, ip: string) => async () => {
      const d = await dig(h, from, gw, name);
      if (!d.answers.includes(ip)) throw new Error(`${from} asked for ${name}: ${show(d)}`);
      return true;
    };
    await eventually("a resolves b", 10_000, resolves(h1, "sa", "sb", ipB));
    await eventually("a resolves bee", 10_000, resolves(h1, "sa", "sbee", ipB));
    await eventually("c resolves a", 10_000, resolves(h3, "sc", "sa", ipA));

    // berthd on h2 restarts (its sandboxes keep running): after more than the old lease's TTL,
    // sb is still known and reachable everywhere (its claim moved to the new lease).
    await h2.restartBerthd();
    await new Promise((r) => setTimeout(r, (ttl + 2) * 1000));
    await eventually("sa resolves sb after h2's berthd restarted", 10_000, resolves(h1, "sa", "sb", ipB));
    assert.ok(await pingFrom(h1, "sa", ipB), "sa reaches sb after h2's berthd restarted");

    // Concurrent starts on two hosts: no address twice.
    const names = (p: string) => [1, 2, 3, 4].map((i) => `${p}${i}`);
    await Promise.all([
      ...names("x").map((n) => h2.berthOk(["run", "-d", "--name", n, "--network", "ov1", "--", ...SLEEP])),
      ...names("y").map((n) => h3.berthOk(["run", "-d", "--name", n, "--network", "ov1", "--", ...SLEEP])),
    ]);
    const ips = [...(await Promise.all(names("x").map((n) => ipOn(h2, n, "ov1")))), ...(await Promise.all(names("y").map((n) => ipOn(h3, n, "ov1"))))];
    assert.equal(new Set([ipA, ipB, ipC, ...ips]).size, 3 + ips.length, `addresses after concurrent starts: ${ips.join(" ")}`);

    // etcd unreachable (all three members killed): the data path and DNS keep working from what
    // is known; a start on the overlay fails within a bounded time, naming the cluster store;
    // local bridges still work. etcd back: a start on the overlay works again.
    for (const i of [1, 2, 3]) await c.killMember(i);
    assert.ok(await pingFrom(h1, "sa", ipB), "sa reaches sb with etcd down");
    await eventually("sa resolves sb with etcd down", 5_000, resolves(h1, "sa", "sb", ipB));
    const t0 = Date.now();
    const failed = await h1.berth(["run", "-d", "--name", "late", "--network", "ov1", "--", ...SLEEP], { timeoutMs: 30_000 });
    assert.notEqual(failed.code, 0, "run on the overlay with etcd down must fail");
    assert.match(failed.stderr, /cluster store unreachable \(etcd /);
    assert.ok(Date.now() - t0 < 20_000, `failing took ${Date.now() - t0} ms`);
    await h1.berthOk(["rm", "-f", "late"]);
    await h1.berthOk(["network", "create", "localnet"]);
    await h1.berthOk(["run", "-d", "--name", "loc", "--network", "localnet", "--", ...SLEEP]);
    for (const i of [1, 2, 3]) await c.startMember(i);
    await c.waitEtcdHealthy();
    await eventually("run on ov1 after etcd is back", 30_000, async () => {
      const r = await h1.berth(["run", "-d", "--name", "late", "--network", "ov1", "--", ...SLEEP]);
      if (r.code !== 0) {
        await h1.berth(["rm", "-f", "late"]);
        throw new Error(r.stderr);
      }
      return true;
    });
    const ipLate = await ipOn(h1, "late", "ov1");
    assert.ok(![ipA, ipB, ipC, ...ips].includes(ipLate), `late got a taken address ${ipLate}`);
    await eventually("sb resolves late", 15_000, resolves(h2, "sb", "late", ipLate));
    await eventually("sb pings late", 10_000, async () => ((await pingFrom(h2, "sb", ipLate)) ? true : undefined));
    await h1.berthOk(["rm", "-f", "late", "loc"]);
    await h1.berthOk(["network", "rm", "localnet"]);

    // rm is refused while any host has an endpoint on it.
    const busy = await h1.berth(["network", "rm", "ov1"]);
    assert.match(busy.stderr, /has active endpoints/);

    // h3 dies: its sandboxes leave h1's DNS, FDB and neighbour table within the TTL (+ margin).
    const macC = (await h3.berthJson<Array<{ NetworkSettings: { Networks: Record<string, { MacAddress: string }> } }>>(["inspect", "sc"]))[0]!.NetworkSettings.Networks["ov1"]!.MacAddress;
    await c.killHost(2);
    await eventually("c gone from a's DNS", (ttl + 8) * 1000, async () => (!(await dig(h1, "sa", gw, "sc")).answers.includes(ipC) ? true : undefined));
    assert.doesNotMatch(await fdbMacs(h1, `bvx${id.slice(0, 9)}`), new RegExp(macC));
    assert.doesNotMatch((await h1.inHost(["ip", "neigh", "show", "dev", `bvx${id.slice(0, 9)}`])).stdout, new RegExp(`${ipC.replace(/\./g, "\\.")} `));
    assert.ok(await pingFrom(h1, "sa", ipB), "a still reaches b");

    // Everyone leaves; rm on h2 removes it on h1 too.
    await h1.berthOk(["rm", "-f", "sa"]);
    await h2.berthOk(["rm", "-f", "sb", ...names("x")]);
    await eventually("rm ov1 on h2", 10_000, async () => ((await h2.berth(["network", "rm", "ov1"])).code === 0 ? true : undefined));
    await eventually("ov1 gone on h1", 10_000, async () => ((await netRow(h1, "ov1")) === undefined ? true : undefined));
    assert.doesNotMatch((await h1.inHost(["ip", "-o", "link"])).stdout, /bvx|berth-/);
  });
});
