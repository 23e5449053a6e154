// S1: the default bridge. A fresh berthd has bridge (berth0, 172.17.0.0/16, gw .1), host and
// none; two sandboxes without --network get .2 and .3, reach each other by IP (ping, HTTP) and
// do NOT resolve each other by name.

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { addrsIn, inspect, netInspect, pingFrom, webRoot, wget } from "./foundation.js";

test("S1 default bridge: built-in networks, consecutive addresses, reach by IP, not by name", async () => {
  await withLab("s1", {}, async (lab) => {
    // Built-in networks, as `network ls` shows them.
    const ls = await lab.berthOk(["network", "ls"]);
    const rows = ls.trim().split("\n");
    assert.match(rows[0]!, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE/);
    const byName = new Map(rows.slice(1).map((r) => { const c = r.trim().split(/\s+/); return [c[1], c[2]] as const; }));
    assert.deepEqual([...byName.keys()].sort(), ["bridge", "host", "none"]);
    assert.equal(byName.get("bridge"), "bridge");
    assert.equal(byName.get("host"), "host");
    assert.equal(byName.get("none"), "null");

    const bridge = await netInspect(lab, "bridge");
    assert.equal(bridge.IPAM.Config[0]?.Subnet, "172.17.0.0/16");
    assert.equal(bridge.Options["com.docker.network.bridge.name"], "berth0");
    assert.equal(bridge.Options["com.docker.network.bridge.default_bridge"], "true");
    // The kernel device exists in berthd's namespace with the gateway address.
    const hostAddrs = await addrsIn(lab, lab.hostNsPath);
    assert.deepEqual(hostAddrs["berth0"], ["172.17.0.1/16"], `berth0 in the host namespace: ${JSON.stringify(hostAddrs)}`);

    const www = webRoot(lab, "a1", "hello from a1\n");
    await lab.berthOk(["run", "-d", "--name", "a1", "--", "busybox", "httpd", "-f", "-p", "80", "-h", www]);
    await lab.berthOk(["run", "-d", "--name", "a2", "--", "sleep", "600"]);

    const a1 = await inspect(lab, "a1");
    const a2 = await inspect(lab, "a2");
    assert.equal(a1.NetworkSettings.Networks["bridge"]?.IPAddress, "172.17.0.2");
    assert.equal(a2.NetworkSettings.Networks["bridge"]?.IPAddress, "172.17.0.3");
    assert.equal(a1.NetworkSettings.IPAddress, "172.17.0.2", "top-level IPAddress is set on the default bridge");
    assert.equal(a1.NetworkSettings.Gateway, "172.17.0.1");

    // Inside the sandbox: eth0 carries the address, default route via the gateway.
    const ns2 = await lab.sandboxNs("a2");
    assert.deepEqual((await addrsIn(lab, ns2))["eth0"], ["172.17.0.3/16"]);
    const routes = await lab.inNsOk(ns2, ["ip", "route", "show", "default"]);
    assert.match(routes, /^default via 172\.17\.0\.1 dev eth0/m);

    // By IP: ping and HTTP, both ways, from inside the sandboxes (berth exec) and with the probes.
    assert.ok(await pingFrom(lab, "a2", "172.17.0.2"), "a2 pings a1");
    assert.ok(await pingFrom(lab, "a1", "172.17.0.3"), "a1 pings a2");
    const got = await wget(lab, "a2", "http://172.17.0.2/");
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, "hello from a1\n");
    const probe = await lab.httpGet(ns2, "http://172.17.0.2/");
    assert.ok(probe.ok, JSON.stringify(probe));
    // The host reaches them over berth0 too.
    assert.ok(await lab.ping(lab.hostNsPath, "172.17.0.2"));

    // Not by name: no embedded DNS on the default bridge; /etc/hosts has only the sandbox itself.
    const byNameR = await lab.berth(["exec", "a2", "--", "timeout", "6", "busybox", "ping", "-c", "1", "-W", "1", "a1"], { timeoutMs: 15_000 });
    assert.notEqual(byNameR.code, 0, `a2 must not resolve a1: ${byNameR.stdout}${byNameR.stderr}`);
    assert.doesNotMatch(byNameR.stdout, /172\.17\.0\.2/);
    const hosts = await lab.berthOk(["exec", "a2", "--", "cat", "/etc/hosts"]);
    assert.doesNotMatch(hosts, /\ba1\b/, `a2's /etc/hosts names a1:\n${hosts}`);
    assert.match(hosts, /^172\.17\.0\.3\s/m, `a2's /etc/hosts lacks its own address:\n${hosts}`);
    const resolv = await lab.berthOk(["exec", "a2", "--", "cat", "/etc/resolv.conf"]);
    assert.doesNotMatch(resolv, /127\.0\.0\.11|172\.17\.0\.1/, `the default bridge has no embedded DNS:\n${resolv}`);
  });
});
