// S4: network modes. host shares berthd's namespace, none has only lo, container:NAME shares
// another sandbox's namespace (same IP, same ports, localhost between them); conflicting
// options with container mode fail with Docker's texts and exit code 125.

import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { test } from "node:test";
import { HOST_IP, UPLINK, withLab } from "./lab.js";
import { addrsIn, assertFails, inspect, psJson, snapshot, webRoot, wget } from "./foundation.js";
import { waitFor } from "./wait.js";

function nsId(path: string): string {
  const s = statSync(path);
  return `${s.dev}:${s.ino}`;
}

test("S4 modes: host, none, container:NAME, and conflicting options", async () => {
  await withLab("s4", {}, async (lab) => {
    // --network host: the sandbox is in berthd's namespace and sees its interfaces.
    await lab.berthOk(["run", "-d", "--name", "h", "--network", "host", "--", "sleep", "600"]);
    const h = await inspect(lab, "h");
    assert.equal(h.HostConfig.NetworkMode, "host");
    assert.ok(h.NetworkSettings.Networks["host"], "inspect lists the host network");
    assert.equal(nsId(`/proc/${h.State.Pid}/ns/net`), nsId(lab.hostNsPath), "host mode runs in berthd's namespace");
    const hLinks = await lab.berthOk(["exec", "h", "--", "ip", "-o", "link", "show"]);
    assert.match(hLinks, /\bberth0\b/, `host mode sees berth0:\n${hLinks}`);
    assert.match(hLinks, new RegExp(`\\b${UPLINK}\\b`), `host mode sees the uplink:\n${hLinks}`);
    assert.match(await lab.berthOk(["exec", "h", "--", "ip", "-4", "-o", "addr", "show"]), new RegExp(`inet ${HOST_IP.replace(/\./g, "\\.")}/24`));
    // A server in the host-mode sandbox is reached from the outside on the host's address.
    const www = webRoot(lab, "h", "host mode\n");
    await lab.berthOk(["run", "-d", "--name", "hweb", "--network", "host", "--", "busybox", "httpd", "-f", "-p", "18080", "-h", www]);
    let fromOutside = await lab.httpGet(lab.outsideNsPath, `http://${HOST_IP}:18080/`);
    await waitFor("outside -> host-mode httpd on port 18080", async () => (fromOutside = await lab.httpGet(lab.outsideNsPath, `http://${HOST_IP}:18080/`)).ok, {
      describe: () => JSON.stringify(fromOutside),
    });
    // -p with host mode: a warning, and the run still succeeds.
    const warn = await lab.berth(["run", "-d", "--name", "hp", "--network", "host", "-p", "8080:80", "--", "sleep", "600"]);
    assert.equal(warn.code, 0, warn.stderr);
    assert.match(warn.stderr, /WARNING: Published ports are discarded when using host network mode/);

    // --network none: only lo, no routes.
    await lab.berthOk(["run", "-d", "--name", "n", "--network", "none", "--", "sleep", "600"]);
    const nLinks = await lab.berthOk(["exec", "n", "--", "ip", "-o", "link", "show"]);
    assert.deepEqual(nLinks.trim().split("\n").map((l) => l.split(":")[1]!.trim()), ["lo"], nLinks);
    assert.equal((await lab.berthOk(["exec", "n", "--", "ip", "-4", "route", "show"])).trim(), "");
    const n = await inspect(lab, "n");
    assert.deepEqual(Object.keys(n.NetworkSettings.Networks), ["none"]);
    assert.equal(n.NetworkSettings.Networks["none"]!.IPAddress, "");
    const nNs = await lab.sandboxNs("n");
    assert.deepEqual(Object.keys(await addrsIn(lab, nNs)), ["lo"]);
    assert.equal(await lab.ping(nNs, "172.17.0.1"), false, "none mode must not reach the bridge");

    // --network container:web1: same namespace, same IP; localhost works between them.
    const wwwLocal = webRoot(lab, "local", "web1 on localhost\n");
    await lab.berthOk(["run", "-d", "--name", "web1", "--", "busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", wwwLocal]);
    await lab.berthOk(["run", "-d", "--name", "side", "--network", "container:web1", "--", "sleep", "600"]);
    const web1 = await inspect(lab, "web1");
    const side = await inspect(lab, "side");
    assert.equal(side.HostConfig.NetworkMode, `container:${web1.Id}`);
    assert.deepEqual(side.NetworkSettings.Networks, {});
    assert.equal(side.NetworkSettings.SandboxKey, "");
    assert.equal(nsId(`/proc/${side.State.Pid}/ns/net`), nsId(web1.NetworkSettings.SandboxKey), "side shares web1's namespace");
    const sideAddr = await lab.berthOk(["exec", "side", "--", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert.match(sideAddr, new RegExp(`inet ${web1.NetworkSettings.IPAddress.replace(/\./g, "\\.")}/16`));
    const local = await wget(lab, "side", "http://127.0.0.1:8080/");
    assert.equal(local.stdout, "web1 on localhost\n", `side -> web1's 127.0.0.1:8080: ${local.stderr}`);
    // ... and the localhost server is not reachable from another sandbox on the bridge.
    await lab.berthOk(["run", "-d", "--name", "other", "--", "sleep", "600"]);
    const otherNs = await lab.sandboxNs("other");
    assert.equal((await lab.tcpConnect(otherNs, web1.NetworkSettings.IPAddress, 8080, { timeoutMs: 1500 })).ok, false);
    // A server started in side answers on web1's address from another sandbox.
    await lab.berthOk(["run", "-d", "--name", "side2", "--network", "container:web1", "--", "busybox", "httpd", "-f", "-p", "81", "-h", wwwLocal]);
    let viaShared = await lab.httpGet(otherNs, `http://${web1.NetworkSettings.IPAddress}:81/`);
    await waitFor("other -> side2's port 81 on web1's address", async () => (viaShared = await lab.httpGet(otherNs, `http://${web1.NetworkSettings.IPAddress}:81/`)).ok, {
      describe: () => JSON.stringify(viaShared),
    });
    // A container-mode sandbox cannot be connected to other networks.
    const conn = await lab.berth(["network", "connect", "bridge", "side"]);
    assert.notEqual(conn.code, 0);
    assert.match(conn.stderr, /container sharing network namespace with another container or host cannot be connected to any other network/);

    // Conflicting options: Docker's texts, exit 125, nothing created.
    const before = await snapshot(lab);
    const cases: Array<[string[], string]> = [
      [["-p", "8081:80"], "conflicting options: port publishing and the container type network mode."],
      [["--hostname", "x"], "conflicting options: hostname and the network mode."],
      [["--add-host", "a.example:10.1.2.3"], "conflicting options: custom host-to-IP mapping and the network mode."],
      [["--dns", "10.1.2.3"], "conflicting options: dns and the network mode."],
    ];
    for (const [flags, text] of cases) {
      const r = await lab.berth(["run", "-d", "--network", "container:web1", ...flags, "--", "sleep", "600"]);
      assertFails(r, 125, text, `run --network container:web1 ${flags.join(" ")}`);
    }
    const nosuch = await lab.berth(["run", "-d", "--network", "container:nosuch", "--", "sleep", "600"]);
    assertFails(nosuch, 125, "No such container: nosuch", "run --network container:nosuch");
    assert.deepEqual(await snapshot(lab), before, "failed runs changed something");
    assert.equal(psJson(await lab.berthOk(["ps", "-a", "--format", "json"])).length, 8);
  });
});
