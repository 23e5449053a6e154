// S11 through berthd and the CLI: outbound traffic is masqueraded to the host's address; with
// `-o com.docker.network.bridge.enable_ip_masquerade=false` on a network, or berthd
// `--ip-masq=false`, the outside sees the sandbox's own address (and needs a route back).

import assert from "node:assert/strict";
import { test } from "node:test";
import { OUTSIDE_IP, withLab } from "./lab.js";
import { ipOn, netInspect } from "./foundation.js";
import { assertBlocked, assertReaches, HOST_IP, peerOf } from "./publish-helpers.js";

const NOMASQ = "com.docker.network.bridge.enable_ip_masquerade=false";

test("S11 masquerade: host address by default; sandbox address with the network option or --ip-masq=false", async () => {
  await withLab("p220", {}, async (lab) => {
    const srv = await lab.outsideServer({ proto: "tcp", port: 9000 });
    const web = await lab.outsideServer({ proto: "http", port: 80 });

    await lab.berthOk(["network", "create", "masq"]);
    await lab.berthOk(["network", "create", "-o", NOMASQ, "nomasq"]);
    assert.equal((await netInspect(lab, "nomasq")).Options["com.docker.network.bridge.enable_ip_masquerade"], "false");
    for (const [name, net] of [["m1", "bridge"], ["m2", "masq"], ["m3", "nomasq"]] as const) {
      await lab.berthOk(["run", "-d", "--name", name, "--network", net, "--", "sleep", "600"]);
    }
    const ns = { m1: await lab.sandboxNs("m1"), m2: await lab.sandboxNs("m2"), m3: await lab.sandboxNs("m3") };
    const m3ip = await ipOn(lab, "m3", "nomasq");
    const nomasqSubnet = (await netInspect(lab, "nomasq")).IPAM.Config[0]?.Subnet;
    assert.ok(nomasqSubnet);

    // Default: the outside sees the host's address, and needs no route to the sandbox subnets.
    await assertReaches(lab, "m1 (default bridge) -> outside", ns.m1, "tcp", OUTSIDE_IP, srv.port, HOST_IP);
    await assertReaches(lab, "m2 (user network) -> outside", ns.m2, "tcp", OUTSIDE_IP, srv.port, HOST_IP);
    // As a user would see it: busybox wget from inside the sandbox.
    const w = await lab.berth(["exec", "m1", "--", "timeout", "3", "busybox", "wget", "-qO-", `http://${OUTSIDE_IP}/`], { timeoutMs: 10_000 });
    assert.equal(w.code, 0, `wget from m1: ${w.stderr}`);
    assert.equal((JSON.parse(w.stdout) as { peer: string }).peer, HOST_IP);
    assert.equal(web.hits().at(-1)?.peer, HOST_IP);

    // Masquerade off for one network: without a route back the connection cannot complete...
    await assertBlocked(lab, "m3 (nomasq) -> outside without a route back", ns.m3, "tcp", OUTSIDE_IP, srv.port);
    // ...though its packets did arrive, from the sandbox's own address (counted in the outside).
    await lab.inOutsideOk(["nft", "-f", "-"], { input: `table inet p220probe {\n chain in {\n type filter hook input priority -400;\n ip saddr ${m3ip} tcp dport ${srv.port} counter\n }\n}\n` });
    await assertBlocked(lab, "m3 (nomasq) -> outside without a route back, counted", ns.m3, "tcp", OUTSIDE_IP, srv.port);
    const counted = await lab.inOutsideOk(["nft", "list", "chain", "inet", "p220probe", "in"]);
    assert.ok(Number(/counter packets (\d+)/.exec(counted)?.[1] ?? 0) > 0, `packets from ${m3ip} must reach the outside:\n${counted}`);
    await lab.inOutsideOk(["ip", "route", "add", nomasqSubnet, "via", HOST_IP]);
    await assertReaches(lab, "m3 (nomasq) -> outside with a route back", ns.m3, "tcp", OUTSIDE_IP, srv.port, m3ip);
    // The others are still masqueraded.
    await assertReaches(lab, "m2 still masqueraded", ns.m2, "tcp", OUTSIDE_IP, srv.port, HOST_IP);

    // berthd --ip-masq=false: nothing is masqueraded, the default bridge included.
    await lab.restartBerthd(["--ip-masq=false"]);
    const m1ip = await ipOn(lab, "m1", "bridge");
    const m2ip = await ipOn(lab, "m2", "masq");
    await assertBlocked(lab, "m1 -> outside, --ip-masq=false, no route back", ns.m1, "tcp", OUTSIDE_IP, srv.port);
    await lab.inOutsideOk(["ip", "route", "add", "172.17.0.0/16", "via", HOST_IP]);
    const masqSubnet = (await netInspect(lab, "masq")).IPAM.Config[0]?.Subnet;
    assert.ok(masqSubnet);
    await lab.inOutsideOk(["ip", "route", "add", masqSubnet, "via", HOST_IP]);
    await assertReaches(lab, "m1 -> outside, --ip-masq=false", ns.m1, "tcp", OUTSIDE_IP, srv.port, m1ip);
    await assertReaches(lab, "m2 -> outside, --ip-masq=false", ns.m2, "tcp", OUTSIDE_IP, srv.port, m2ip);
    const w2 = await lab.berth(["exec", "m1", "--", "timeout", "3", "busybox", "wget", "-qO-", `http://${OUTSIDE_IP}/`], { timeoutMs: 10_000 });
    assert.equal(w2.code, 0, `wget from m1: ${w2.stderr}`);
    assert.equal(peerOf({ ok: true, data: w2.stdout, ms: 0 }), m1ip);

    // And back: a restart with the default turns masquerade on again.
    await lab.restartBerthd([]);
    await assertReaches(lab, "m1 -> outside after restart with masquerade", ns.m1, "tcp", OUTSIDE_IP, srv.port, HOST_IP);
  });
});
