// S6: point-to-point networks. Two sandboxes joined by a veth pair with /32 addresses and host
// routes, no bridge, no default route: each reaches the other and nothing else; a third one is
// refused with a clear error.

import assert from "node:assert/strict";
import { test } from "node:test";
import { HOST_IP, withLab } from "./lab.js";
import { addrsIn, berthLinks, inspect, ipOn, netInspect, pingFrom, psJson, webRoot, wget } from "./foundation.js";

test("S6 p2p: two ends reach each other's /32 and nothing else; a third is refused", async () => {
  await withLab("s6", {}, async (lab) => {
    const linksBefore = await berthLinks(lab);
    await lab.berthOk(["network", "create", "-d", "p2p", "link1"]);
    const net = await netInspect(lab, "link1");
    assert.equal(net.Driver, "p2p");
    assert.deepEqual(await berthLinks(lab), linksBefore, "a p2p network makes no bridge");

    // A default-bridge sandbox and the host are things p1 must not reach.
    await lab.berthOk(["run", "-d", "--name", "bystander", "--", "sleep", "600"]);
    const bystanderIp = await ipOn(lab, "bystander", "bridge");

    const www = webRoot(lab, "p1", "p1 over the wire\n");
    await lab.berthOk(["run", "-d", "--name", "p1", "--network", "link1", "--", "busybox", "httpd", "-f", "-p", "80", "-h", www]);
    await lab.berthOk(["run", "-d", "--name", "p2", "--network", "link1", "--", "sleep", "600"]);
    const p1ip = await ipOn(lab, "p1", "link1");
    const p2ip = await ipOn(lab, "p2", "link1");
    assert.notEqual(p1ip, p2ip);
    const p1 = await inspect(lab, "p1");
    assert.equal(p1.NetworkSettings.Networks["link1"]!.IPPrefixLen, 32);

    for (const [name, mine, peer] of [["p1", p1ip, p2ip], ["p2", p2ip, p1ip]] as const) {
      const ns = await lab.sandboxNs(name);
      const addrs = await addrsIn(lab, ns);
      const own = Object.entries(addrs).filter(([i]) => i !== "lo");
      assert.deepEqual(own.map(([, a]) => a), [[`${mine}/32`]], `${name}: ${JSON.stringify(addrs)}`);
      const routes = (await lab.inNsOk(ns, ["ip", "-4", "route", "show"])).trim();
      assert.doesNotMatch(routes, /^default/m, `${name} must have no default route:\n${routes}`);
      assert.match(routes, new RegExp(`^${peer.replace(/\./g, "\\.")} dev `, "m"), `${name} has a host route to its peer:\n${routes}`);
    }
    // The host namespace holds nothing of the link.
    const bystanderIf = `bv${(await inspect(lab, "bystander")).NetworkSettings.Networks["bridge"]!.EndpointID.slice(0, 12)}`;
    assert.deepEqual(await berthLinks(lab), [...linksBefore, bystanderIf].sort(), "only the bystander has a host-side veth");

    assert.ok(await pingFrom(lab, "p2", p1ip), "p2 pings p1");
    assert.ok(await pingFrom(lab, "p1", p2ip), "p1 pings p2");
    assert.equal((await wget(lab, "p2", `http://${p1ip}/`)).stdout, "p1 over the wire\n");
    // Nothing else: not the bridge, not the host, not a bystander; and nobody else reaches them.
    const p1Ns = await lab.sandboxNs("p1");
    for (const ip of ["172.17.0.1", bystanderIp, HOST_IP]) {
      assert.equal(await lab.ping(p1Ns, ip), false, `p1 must not reach ${ip}`);
    }
    assert.equal(await lab.ping(lab.hostNsPath, p1ip), false, "the host must not reach p1");
    assert.equal(await pingFrom(lab, "bystander", p1ip), false, "the bystander must not reach p1");

    // A third sandbox is refused with a clear error and never runs.
    const third = await lab.berth(["run", "-d", "--name", "p3", "--network", "link1", "--", "sleep", "600"]);
    assert.equal(third.code, 125, `${third.stdout}${third.stderr}`);
    assert.match(third.stderr, /point-to-point network link1 already joins two sandboxes \(p1, p2\)|p1.*p2|p2.*p1/);
    const p3 = psJson(await lab.berthOk(["ps", "-a", "--format", "json"])).find((s) => s["Names"] === "p3");
    assert.notEqual(p3?.["State"], "running");
    assert.ok(await pingFrom(lab, "p2", p1ip), "the link still works after the refusal");
    // Connecting a running third sandbox is refused too.
    const conn = await lab.berth(["network", "connect", "link1", "bystander"]);
    assert.notEqual(conn.code, 0);
    assert.match(conn.stderr, /already joins two sandboxes/);

    // When one end goes, the other is alone; a new sandbox can take its place.
    await lab.berthOk(["rm", "-f", "p2"]);
    await lab.berthOk(["rm", "p3"]);
    assert.equal(Object.keys((await netInspect(lab, "link1")).Containers).length, 1);
    await lab.berthOk(["run", "-d", "--name", "p4", "--network", "link1", "--", "sleep", "600"]);
    const p4ip = await ipOn(lab, "p4", "link1");
    assert.ok(await pingFrom(lab, "p4", p1ip), "p4 reaches p1 on the re-used link");
    assert.ok(await pingFrom(lab, "p1", p4ip), "p1 reaches p4");
    // A p2p network with an end on it cannot be removed; without, it can.
    assert.notEqual((await lab.berth(["network", "rm", "link1"])).code, 0);
    await lab.berthOk(["rm", "-f", "p1", "p4"]);
    await lab.berthOk(["network", "rm", "link1"]);
  });
});
