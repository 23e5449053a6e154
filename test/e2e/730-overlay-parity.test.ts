// Bridge features on an overlay network, across two hosts, with real traffic: `--ip` (and the
// same address refused on the other host), connect/disconnect of a running sandbox, `-p` of a
// sandbox on an overlay answering via its own host, `--internal` (no way out, still reachable
// across hosts) and ICC off (`-o com.docker.network.bridge.enable_icc=false`: Docker's overlay
// driver has no such option; berth honours it, also between hosts; see docs/overlay.md).
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, withCluster } from "./cluster-lab.js";
import { ipOn, pingFrom } from "./foundation.js";
import type { Lab } from "./lab.js";
import { assertBlocked, assertReaches, HOST_IP, runServer } from "./publish-helpers.js";

const SLEEP = ["sleep", "600"];
const TCP80 = [{ proto: "tcp" as const, port: 80 }];
const reach = (h: Lab, from: string, ip: string, what: string) =>
  eventually(what, 10_000, async () => ((await pingFrom(h, from, ip)) ? true : undefined));

test("overlay parity: --ip, connect/disconnect, -p via its host, --internal, ICC off, across hosts", async () => {
  await withCluster("ovp", { hosts: 2, leaseTtl: 4 }, async (c) => {
    const [h1, h2] = c.hosts as [Lab, Lab];
    await h1.berthOk(["network", "create", "-d", "overlay", "--attachable", "--subnet", "10.70.1.0/24", "ova"]);
    await h1.berthOk(["network", "create", "-d", "overlay", "--attachable", "--internal", "--subnet", "10.70.2.0/24", "ovi"]);
    await h1.berthOk(["network", "create", "-d", "overlay", "--attachable", "-o", "com.docker.network.bridge.enable_icc=false", "--subnet", "10.70.3.0/24", "ovx"]);
    const bad = await h2.berth(["network", "create", "-d", "overlay", "-o", "com.docker.network.bridge.enable_icc=maybe", "ovbad"]);
    assert.match(bad.stderr, /invalid value "maybe" for option com\.docker\.network\.bridge\.enable_icc/);
    for (const n of ["ova", "ovi", "ovx"]) await eventually(`${n} on h2`, 10_000, async () => ((await h2.berth(["network", "inspect", n])).code === 0 ? true : undefined));

    // --ip: the chosen address is used; the same address on the other host is refused.
    await runServer(h1, "a1", ["--network", "ova", "--ip", "10.70.1.50", "-p", "8080:80"], TCP80);
    assert.equal(await ipOn(h1, "a1", "ova"), "10.70.1.50");
    const dup = await h2.berth(["run", "-d", "--name", "a2dup", "--network", "ova", "--ip", "10.70.1.50", "--", ...SLEEP]);
    assert.notEqual(dup.code, 0, "the same --ip on h2 must be refused");
    assert.match(dup.stderr, /Address already in use: 10\.70\.1\.50 /);
    await h2.berth(["rm", "-f", "a2dup"]);
    await runServer(h2, "a2", ["--network", "ova", "--ip", "10.70.1.60"], TCP80);
    await reach(h2, "a2", "10.70.1.50", "a2 (h2) pings a1 (h1) at its --ip");
    await assertReaches(h2, "a2 -> a1:80 across hosts", await h2.sandboxNs("a2"), "tcp", "10.70.1.50", 80, "10.70.1.60");

    // -p of a sandbox on an overlay: answers from h1's outside namespace via h1, not via h2.
    await assertReaches(h1, "outside(h1) -> h1:8080 (a1 on ova)", h1.outsideNsPath, "tcp", HOST_IP, 8080);
    await assertBlocked(h2, "outside(h2) -> h2:8080 (nothing published on h2)", h2.outsideNsPath, "tcp", HOST_IP, 8080);
    // Outbound from a non-internal overlay leaves through the local host.
    const srv2 = await h2.outsideServer({ proto: "tcp", port: 9000 });
    await assertReaches(h2, "a2 -> outside(h2)", await h2.sandboxNs("a2"), "tcp", "192.0.2.2", 9000, HOST_IP);
    void srv2;

    // connect/disconnect a running sandbox (on the default bridge of h2) to the overlay.
    await runServer(h2, "b2", [], TCP80);
    await h2.berthOk(["network", "connect", "--ip", "10.70.1.70", "ova", "b2"]);
    await reach(h1, "a1", "10.70.1.70", "a1 (h1) pings b2 (h2) after connect");
    await assertReaches(h1, "a1 -> b2:80 after connect", await h1.sandboxNs("a1"), "tcp", "10.70.1.70", 80, "10.70.1.50");
    await h2.berthOk(["network", "disconnect", "ova", "b2"]);
    await eventually("b2 unreachable from h1 after disconnect", 10_000, async () => ((await pingFrom(h1, "a1", "10.70.1.70")) ? undefined : true));
    await assertBlocked(h1, "a1 -> b2:80 after disconnect", await h1.sandboxNs("a1"), "tcp", "10.70.1.70", 80);
    const nets = (await h2.berthJson<Array<{ NetworkSettings: { Networks: Record<string, unknown> } }>>(["inspect", "b2"]))[0]!.NetworkSettings.Networks;
    assert.deepEqual(Object.keys(nets).sort(), ["bridge"]);

    // --internal overlay: reachable across hosts, no way out, -p ignored.
    await runServer(h1, "i1", ["--network", "ovi", "-p", "8090:80"], TCP80);
    await h2.berthOk(["run", "-d", "--name", "i2", "--network", "ovi", "--", ...SLEEP]);
    const ipI1 = await ipOn(h1, "i1", "ovi");
    await reach(h2, "i2", ipI1, "i2 (h2) pings i1 (h1) on the internal overlay");
    await assertReaches(h2, "i2 -> i1:80 (internal, across hosts)", await h2.sandboxNs("i2"), "tcp", ipI1, 80);
    await assertBlocked(h2, "i2 -> outside(h2) (internal)", await h2.sandboxNs("i2"), "tcp", "192.0.2.2", 9000);
    await assertBlocked(h1, "outside(h1) -> h1:8090 (i1, internal)", h1.outsideNsPath, "tcp", HOST_IP, 8090);

    // ICC off on an overlay: blocked between sandboxes on the same host and across hosts;
    // published ports and the way out still work.
    await runServer(h1, "x1", ["--network", "ovx", "-p", "8081:80"], TCP80);
    await runServer(h1, "x1b", ["--network", "ovx"], TCP80);
    await runServer(h2, "x2", ["--network", "ovx"], TCP80);
    const ipX1 = await ipOn(h1, "x1", "ovx");
    await assertBlocked(h1, "x1b -> x1:80 (ICC off, same host)", await h1.sandboxNs("x1b"), "tcp", ipX1, 80);
    await assertBlocked(h2, "x2 -> x1:80 (ICC off, across hosts)", await h2.sandboxNs("x2"), "tcp", ipX1, 80);
    assert.equal(await pingFrom(h2, "x2", ipX1), false, "x2 must not ping x1 with ICC off");
    await assertReaches(h1, "outside(h1) -> h1:8081 (x1, ICC off)", h1.outsideNsPath, "tcp", HOST_IP, 8081);
    await assertReaches(h2, "x2 -> outside(h2) (ICC off)", await h2.sandboxNs("x2"), "tcp", "192.0.2.2", 9000, HOST_IP);

    await h1.berthOk(["rm", "-f", "a1", "i1", "x1", "x1b"]);
    await h2.berthOk(["rm", "-f", "a2", "b2", "i2", "x2"]);
  });
});
