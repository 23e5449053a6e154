// S26 groundwork: the multi-host lab and cluster membership. Three berth hosts, each in its own
// namespaces with its own berthd, join through a 3-member etcd cluster on an underlay bridge.
// `berth node ls` on any host shows all three; a host that dies is gone from the others' view
// within its lease TTL; losing one etcd member of three changes nothing; with etcd gone, node ls
// fails within a bounded time with a clear error, and local work goes on.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, hostUnderlayIp, withCluster, type Cluster } from "./cluster-lab.js";
import type { Lab } from "./lab.js";

interface NodeRow {
  Hostname: string;
  Self: boolean;
  Addr: string;
  Status: string;
  LeaseTTL: number;
  LeaseGrantedTTL: number;
}

async function nodes(lab: Lab): Promise<NodeRow[]> {
  const out = await lab.berthOk(["node", "ls", "--format", "json"]);
  return out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as NodeRow);
}

const names = (rows: NodeRow[]) => rows.map((r) => r.Hostname).join(",");

test("cluster: 3 hosts join through etcd, see each other, a dead host leaves within its lease TTL, etcd faults", async () => {
  const ttl = 4;
  await withCluster("mhx", { hosts: 3, leaseTtl: ttl }, async (c: Cluster) => {
    const [h1, h2, h3] = c.hosts as [Lab, Lab, Lab];
    // Every host sees every host, with its underlay address, ready, on a lease of the TTL asked.
    for (const [i, h] of c.hosts.entries()) {
      const rows = await nodes(h);
      assert.equal(names(rows), "h1,h2,h3", `node ls on h${i + 1}`);
      for (const [k, r] of rows.entries()) {
        assert.equal(r.Addr, hostUnderlayIp(k + 1));
        assert.equal(r.Status, "ready");
        assert.equal(r.LeaseGrantedTTL, ttl);
        assert.equal(r.Self, k === i);
      }
    }
    const table = await h1.berthOk(["node", "ls"]);
    assert.match(table, /^HOSTNAME\s+ADDRESS\s+STATUS\s+LEASE\s+JOINED/);
    assert.match(table, /h1 \*\s+10\.99\.0\.21\s+ready/);

    // A second berthd may not take a live host's name from another address.
    const r = await c.etcdctl(["get", "--prefix", "/berth/hosts/", "--keys-only"]);
    assert.deepEqual(r.stdout.split("\n").filter(Boolean), ["/berth/hosts/h1", "/berth/hosts/h2", "/berth/hosts/h3"]);

    // One etcd member of three lost (SIGKILL): nothing visible changes, and keepalives go on
    // (the records outlive several TTLs).
    await c.killMember(1);
    const t0 = Date.now();
    while (Date.now() - t0 < (ttl + 2) * 1000) {
      assert.equal(names(await nodes(h2)), "h1,h2,h3", "node ls with one etcd member down");
      await new Promise((res) => setTimeout(res, 500));
    }
    await c.startMember(1);
    await c.waitEtcdHealthy();

    // Host h3 dies (berthd SIGKILLed, namespaces gone): gone from h1's and h2's view within the
    // TTL plus an election (the bound here is generous for a loaded machine; bench/ measures).
    await c.killHost(2);
    for (const h of [h1, h2]) await eventually("h3 gone from node ls", (ttl + 8) * 1000, async () => (names(await nodes(h)) === "h1,h2" ? true : undefined));

    // etcd unreachable (all members stopped): node ls fails within a bounded time, naming etcd;
    // the local API still answers.
    for (const i of [1, 2, 3]) await c.killMember(i);
    const start = Date.now();
    const down = await h1.berth(["node", "ls"], { timeoutMs: 20_000 });
    assert.notEqual(down.code, 0, "node ls with etcd down must fail");
    assert.match(down.stderr, /cluster store unreachable \(etcd http:\/\/10\.99\.0\.11:2379/);
    assert.ok(Date.now() - start < 15_000, `node ls took ${Date.now() - start} ms with etcd down`);
    assert.match(await h1.berthOk(["network", "ls"]), /bridge/);

    // etcd back: h1 and h2 are members again (a lost lease is replaced and the record re-put).
    for (const i of [1, 2, 3]) await c.startMember(i);
    await c.waitEtcdHealthy();
    for (const h of [h1, h2]) await eventually("h1,h2 back in node ls", 30_000, async () => (names(await nodes(h)) === "h1,h2" ? true : undefined));
  });
});

test("single host: node ls says how to join a cluster; cluster flags are checked", async () => {
  const { withLab } = await import("./lab.js");
  await withLab("mhxs", {}, async (lab) => {
    const r = await lab.berth(["node", "ls"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not part of a cluster\. Start berthd with --cluster-store/);
    await lab.stopBerthd();
    await assert.rejects(lab.startBerthd(["--cluster-store", "etcd://10.99.0.11:2379"]), /--cluster-store needs --advertise-addr/);
    await assert.rejects(lab.startBerthd(["--advertise-addr", "10.99.0.1"]), /--advertise-addr needs --cluster-store/);
  });
});
