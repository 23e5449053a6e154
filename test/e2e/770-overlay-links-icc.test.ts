// Two overlay parity gaps, across two hosts, with real traffic. (1) `--link` on an overlay to a
// sandbox on the other host: as on any user network a link is a DNS alias of the linking sandbox
// only (it resolves to the target's address and connects; another sandbox does not get the alias);
// a link to a name no host has is refused as on one host. (2) The routing mesh on an overlay with
// ICC off (`enable_icc=false`): a published service answers on the host without a replica, the
// replica sees the client's own address, while sandboxes on that network still cannot reach each
// other, across hosts too.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, hostUnderlayIp, withCluster } from "./cluster-lab.js";
import { clusterReplicaCmd } from "./cluster-svc-helpers.js";
import { ipOn } from "./foundation.js";
import type { Lab } from "./lab.js";
import { dig, show } from "./names-helpers.js";
import { assertReaches, runServer } from "./publish-helpers.js";
import { localOf, peerOf } from "./svc-helpers.js";

const SLEEP = ["sleep", "600"];
const TCP80 = [{ proto: "tcp" as const, port: 80 }];

test("overlay: --link across hosts is a DNS alias; the routing mesh on an ICC-off overlay", async () => {
  await withCluster("mu", { hosts: 2, leaseTtl: 4 }, async (c) => {
    const [h1, h2] = c.hosts as [Lab, Lab];
    await h1.berthOk(["network", "create", "-d", "overlay", "--attachable", "--subnet", "10.77.1.0/24", "ova"]);
    await h1.berthOk(["network", "create", "-d", "overlay", "--attachable", "-o", "com.docker.network.bridge.enable_icc=false", "--subnet", "10.77.2.0/24", "ovx"]);
    for (const n of ["ova", "ovx"]) await eventually(`${n} on h2`, 10_000, async () => ((await h2.berth(["network", "inspect", n])).code === 0 ? true : undefined));

    // (1) --link to a sandbox on the other host.
    await runServer(h1, "srv", ["--network", "ova"], TCP80);
    const srvIp = await ipOn(h1, "srv", "ova");
    await eventually("srv's name known on h2", 10_000, async () => {
      const r = await h2.berth(["run", "-d", "--name", "cli", "--network", "ova", "--link", "srv:db", "--", ...SLEEP]);
      if (r.code === 0) return true;
      assert.match(r.stderr, /No such container: srv/, r.stderr);
      return undefined;
    });
    await h2.berthOk(["run", "-d", "--name", "stranger", "--network", "ova", "--", ...SLEEP]);
    const cliIp = await ipOn(h2, "cli", "ova");
    const a = await dig(h2, "cli", "10.77.1.1", "db");
    assert.deepEqual(a.answers, [srvIp], `db (the link alias) from cli on h2 is srv on h1: ${show(a)}`);
    await assertReaches(h2, "cli -> db:80 across hosts", await h2.sandboxNs("cli"), "tcp", srvIp, 80, cliIp);
    const s = await dig(h2, "stranger", "10.77.1.1", "db");
    assert.deepEqual(s.answers, [], `the alias is cli's alone: ${show(s)}`);
    const bad = await h2.berth(["run", "-d", "--name", "bad", "--network", "ova", "--link", "nosuch:x", "--", ...SLEEP]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /No such container: nosuch/);

    // (2) The routing mesh on an ICC-off overlay: the replica on h1, the port answered on h2 too.
    await h2.berthOk(["service", "create", "--name", "web", "--network", "ovx", "--constraint", "node.name==h1", "-p", "8090:80",
      "--health-tcp", "80", "--health-interval", "300ms", "--", ...clusterReplicaCmd(c, 80)]);
    const replica = await eventually("web.1 healthy on h1", 60_000, async () => {
      const r = await h2.berth(["service", "ps", "web", "--format", "json"]);
      const rows = r.code === 0 ? r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { Node: string; CurrentState: string; Addresses: string }) : [];
      return rows.length === 1 && rows[0]!.Node === "h1" && /\(healthy\)/.test(rows[0]!.CurrentState) ? rows[0]!.Addresses.split("=")[1]!.split("/")[0]! : undefined;
    });
    const underlay = `/run/netns/${c.underlayNs}`;
    for (const host of [2, 1]) {
      const r = await eventually(`h${host}:8090 answers`, 20_000, async () => {
        const x = await h1.tcpConnect(underlay, hostUnderlayIp(host), 8090, { timeoutMs: 3000 });
        return x.ok ? x : undefined;
      });
      assert.equal(localOf(r), replica, `via h${host}: the replica answers`);
      assert.equal(peerOf(r), "10.99.0.254", `via h${host}: the replica sees the client's own address: ${r.data}`);
    }
    // ICC off still holds between sandboxes on that network, across hosts.
    await h2.berthOk(["run", "-d", "--name", "x2", "--network", "ovx", "--", ...SLEEP]);
    const x = await h2.tcpConnect(await h2.sandboxNs("x2"), replica, 80, { timeoutMs: 1500 });
    assert.ok(!x.ok, `x2 (h2) -/-> the replica (h1) on an ICC-off overlay: ${JSON.stringify(x)}`);
  });
});
