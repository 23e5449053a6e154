// S3: isolation between networks. A sandbox on net-a does not reach one on net-b; connected to
// both (network connect) it reaches both; disconnect removes that again.

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { addrsIn, inspect, ipOn, linksIn, netInspect, pingFrom, webRoot, wget } from "./foundation.js";

test("S3 isolation: net-a does not reach net-b; connect reaches both; disconnect undoes it", async () => {
  await withLab("s3", {}, async (lab) => {
    await lab.berthOk(["network", "create", "net-a"]);
    await lab.berthOk(["network", "create", "net-b"]);
    const wwwA = webRoot(lab, "a", "on net-a\n");
    const wwwB = webRoot(lab, "b", "on net-b\n");
    await lab.berthOk(["run", "-d", "--name", "wa", "--network", "net-a", "--", "busybox", "httpd", "-f", "-p", "80", "-h", wwwA]);
    await lab.berthOk(["run", "-d", "--name", "wb", "--network", "net-b", "--", "busybox", "httpd", "-f", "-p", "80", "-h", wwwB]);
    await lab.berthOk(["run", "-d", "--name", "x", "--network", "net-a", "--", "sleep", "600"]);
    const waIp = await ipOn(lab, "wa", "net-a");
    const wbIp = await ipOn(lab, "wb", "net-b");
    const xNs = await lab.sandboxNs("x");

    // Same network: reachable. Other network: not (firewall isolation, or no forwarding at all).
    assert.equal((await wget(lab, "x", `http://${waIp}/`)).stdout, "on net-a\n");
    assert.equal(await pingFrom(lab, "x", wbIp), false, "x (net-a) must not ping wb (net-b)");
    const cross = await lab.tcpConnect(xNs, wbIp, 80, { timeoutMs: 1500 });
    assert.equal(cross.ok, false, `x (net-a) must not connect to wb:80 (net-b): ${JSON.stringify(cross)}`);
    assert.equal(await pingFrom(lab, "wb", waIp), false, "wb (net-b) must not ping wa (net-a)");

    // Connect x to net-b as well: eth1 appears with a net-b address, and x reaches both.
    await lab.berthOk(["network", "connect", "net-b", "x"]);
    const xOnB = await ipOn(lab, "x", "net-b");
    const addrs = await addrsIn(lab, xNs);
    assert.deepEqual(addrs["eth1"], [`${xOnB}/16`], JSON.stringify(addrs));
    assert.ok(Object.keys((await netInspect(lab, "net-b")).Containers).includes((await inspect(lab, "x")).Id));
    assert.equal((await wget(lab, "x", `http://${wbIp}/`)).stdout, "on net-b\n", "x reaches wb after connect");
    assert.equal((await wget(lab, "x", `http://${waIp}/`)).stdout, "on net-a\n", "x still reaches wa");
    assert.ok(await pingFrom(lab, "wb", xOnB), "wb reaches x's net-b address");
    // x's default route stays on its first network.
    assert.match(await lab.inNsOk(xNs, ["ip", "route", "show", "default"]), /dev eth0/);
    // Being connected to both does not turn x into a router between them.
    assert.equal(await pingFrom(lab, "wb", waIp), false, "wb still must not reach wa");

    // Disconnect: eth1 and x's net-b endpoint are gone, and so is the reachability.
    const xInfo = await inspect(lab, "x");
    const hostIf = `bv${xInfo.NetworkSettings.Networks["net-b"]!.EndpointID.slice(0, 12)}`;
    assert.ok((await linksIn(lab, lab.hostNsPath)).includes(hostIf), `host side ${hostIf} while connected`);
    await lab.berthOk(["network", "disconnect", "net-b", "x"]);
    assert.equal((await inspect(lab, "x")).NetworkSettings.Networks["net-b"], undefined);
    assert.equal((await netInspect(lab, "net-b")).Containers[xInfo.Id], undefined);
    assert.ok(!(await linksIn(lab, xNs)).includes("eth1"), "eth1 left in x after disconnect");
    assert.ok(!(await linksIn(lab, lab.hostNsPath)).includes(hostIf), `host side ${hostIf} left after disconnect`);
    const after = await lab.tcpConnect(xNs, wbIp, 80, { timeoutMs: 1500 });
    assert.equal(after.ok, false, `x reaches wb after disconnect: ${JSON.stringify(after)}`);
    assert.equal((await wget(lab, "x", `http://${waIp}/`)).stdout, "on net-a\n", "x still reaches wa after disconnect");

    // Connecting twice is refused; disconnecting from a network it is not on is refused.
    const again = await lab.berth(["network", "connect", "net-a", "x"]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists in network net-a/);
    const notOn = await lab.berth(["network", "disconnect", "net-b", "x"]);
    assert.notEqual(notOn.code, 0);
    assert.match(notOn.stderr, /not connected/);
  });
});
