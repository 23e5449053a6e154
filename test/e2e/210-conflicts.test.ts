// S10 through berthd and the CLI: a host port already used by another mapping, or by a process
// listening on the host, is refused with a clear error, and the refused sandbox leaves nothing
// behind: no bv* interface, no network namespace, no rule or set element, no port.

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Lab, type RunResult, withLab } from "./lab.js";
import { berthLinks, ipOn, psJson } from "./foundation.js";
import { assertBlocked, assertReaches, HOST_IP, portLines, runServer, tableElements } from "./publish-helpers.js";
import { waitFor } from "./wait.js";

interface Kernel {
  links: string[];
  netns: string[];
  elements: string[];
  rules: string;
}

async function kernelState(lab: Lab): Promise<Kernel> {
  let netns: string[] = [];
  try {
    netns = readdirSync(join(lab.execRoot, "netns")).sort();
  } catch {
    netns = [];
  }
  return { links: await berthLinks(lab), netns, elements: await tableElements(lab), rules: await lab.berthOk(["rules"]) };
}

/** Runs `berth run -d --name NAME ARGS -- sleep 600`, expects a refusal naming `port`, and
 * checks that the kernel is exactly as before and the sandbox is not running with ports. */
async function refused(lab: Lab, name: string, args: string[], port: RegExp): Promise<RunResult> {
  const before = await kernelState(lab);
  const r = await lab.berth(["run", "-d", "--name", name, ...args, "--", "sleep", "600"]);
  assert.notEqual(r.code, 0, `berth run ${args.join(" ")} must be refused: ${r.stdout}`);
  assert.match(r.stderr, port, `the error must name the port: ${r.stderr}`);
  assert.match(r.stderr, /already allocated|in use|already/i, `the error must say why: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace for a user error: ${r.stderr}`);
  const after = await kernelState(lab);
  assert.deepEqual(after.links, before.links, "no interface left behind");
  assert.deepEqual(after.netns, before.netns, "no network namespace left behind");
  assert.deepEqual(after.elements, before.elements, "no nftables element left behind");
  assert.equal(after.rules, before.rules, "berth rules unchanged");
  const ps = psJson(await lab.berthOk(["ps", "-a", "--format", "json"])).find((s) => s["Names"] === name);
  if (ps) {
    assert.notEqual(ps["State"], "running", `${name} must not be running: ${JSON.stringify(ps)}`);
    assert.equal(ps["Ports"] ?? "", "", `${name} must hold no ports: ${JSON.stringify(ps)}`);
  }
  return r;
}

test("S10 conflicts: taken by a mapping or a host listener is refused cleanly, nothing half-done", async () => {
  await withLab("p210", {}, async (lab) => {
    const out = lab.outsideNsPath;
    await runServer(lab, "c1", ["-p", "8080:80", "-p", "9001:9001"], [{ proto: "http", port: 80 }, { proto: "tcp", port: 9001 }]);
    await lab.berthOk(["network", "create", "net2"]);

    // Another mapping holds 0.0.0.0:8080: the same port, on any address, on any network.
    const r1 = await refused(lab, "c2", ["-p", "8080:80"], /8080/);
    assert.match(r1.stderr, /port is already allocated/, r1.stderr);
    await refused(lab, "c3", ["-p", "127.0.0.1:8080:80"], /8080/);
    await refused(lab, "c4", ["--network", "net2", "-p", "8080:8080"], /8080/);
    // A range with one taken port is refused whole: 9000 and 9002 are not published either.
    await refused(lab, "c5", ["-p", "9000-9002:9000-9002"], /9001|9000-9002/);
    await assertBlocked(lab, "9000 from a refused range", out, "tcp", HOST_IP, 9000);
    // Two mappings of one sandbox on one host port.
    await refused(lab, "c6", ["-p", "8090:80", "-p", "8090:81"], /8090/);

    // Bindings on different host addresses of one port coexist; 0.0.0.0 then conflicts with both.
    await runServer(lab, "a1", ["-p", "127.0.0.1:8070:80"], [{ proto: "http", port: 80 }]);
    await runServer(lab, "a2", ["-p", `${HOST_IP}:8070:80`], [{ proto: "http", port: 80 }]);
    await refused(lab, "a3", ["-p", "8070:80"], /8070/);
    const a1ip = await ipOn(lab, "a1", "bridge");
    const a2ip = await ipOn(lab, "a2", "bridge");
    const viaLo = await lab.httpGet(lab.hostNsPath, "http://127.0.0.1:8070/");
    const viaHost = await lab.httpGet(lab.hostNsPath, `http://${HOST_IP}:8070/`);
    assert.match(viaLo.data, /"local":"([\d.]+)"/);
    assert.equal(/"local":"([\d.]+)"/.exec(viaLo.data)?.[1], a1ip, "127.0.0.1:8070 goes to a1");
    assert.equal(/"local":"([\d.]+)"/.exec(viaHost.data)?.[1], a2ip, `${HOST_IP}:8070 goes to a2`);
    await assertReaches(lab, "outside -> a2 8070", out, "http", HOST_IP, 8070);

    // A process listening on the host (tcp and udp) holds its port.
    await lab.spawnIn(lab.hostNsPath, ["socat", "TCP4-LISTEN:8500,reuseaddr,fork", "SYSTEM:echo host-tcp"], { name: "host-tcp-8500" });
    await lab.spawnIn(lab.hostNsPath, ["socat", "UDP4-RECVFROM:5300,fork", "SYSTEM:echo host-udp"], { name: "host-udp-5300" });
    const deadline = Date.now() + 5000;
    while (!/:8500\s/.test(await lab.inHostOk(["ss", "-Hltn"])) || !/:5300\s/.test(await lab.inHostOk(["ss", "-Hlun"]))) {
      if (Date.now() > deadline) throw new Error("socat listeners did not start in the host namespace");
      await new Promise((r) => setTimeout(r, 100));
    }
    const r7 = await refused(lab, "c7", ["-p", "8500:80"], /8500/);
    // A host listener on 127.0.0.1 only: 0.0.0.0 is refused, another address is free.
    await lab.spawnIn(lab.hostNsPath, ["socat", "TCP4-LISTEN:8600,bind=127.0.0.1,reuseaddr,fork", "SYSTEM:echo host-lo"], { name: "host-lo-8600" });
    await waitFor("socat listening on 127.0.0.1:8600 in the host namespace", async () => /127\.0\.0\.1:8600\s/.test(await lab.inHostOk(["ss", "-Hltn"])), {
      describe: () => lab.inHostOk(["ss", "-Hltn"]),
    });
    await refused(lab, "c10", ["-p", "8600:80"], /8600/);
    await runServer(lab, "c11", ["-p", `${HOST_IP}:8600:80`], [{ proto: "http", port: 80 }]);
    await assertReaches(lab, "outside -> c11 on hostIP:8600", out, "http", HOST_IP, 8600);
    const lo = await lab.tcpConnect(lab.hostNsPath, "127.0.0.1", 8600);
    assert.ok(lo.data.includes("host-lo"), `127.0.0.1:8600 is still the host's own listener: ${JSON.stringify(lo)}`);
    assert.match(r7.stderr, /process on the host/, `the error must say a host process holds it: ${r7.stderr}`);
    const r8 = await refused(lab, "c8", ["-p", "5300:53/udp"], /5300/);
    assert.match(r8.stderr, /process on the host/, r8.stderr);
    // The other protocol on the same number is free.
    await runServer(lab, "c9", ["-p", "8500:53/udp"], [{ proto: "udp", port: 53 }]);
    assert.deepEqual(await portLines(lab, "c9"), ["53/udp -> 0.0.0.0:8500"]);
    await assertReaches(lab, "outside -> udp 8500 (c9)", out, "udp", HOST_IP, 8500);

    // What was there before still works: c1's mapping, the host's own listener.
    await assertReaches(lab, "outside -> c1 8080", out, "http", HOST_IP, 8080);
    const hostTcp = await lab.tcpConnect(out, HOST_IP, 8500);
    assert.ok(hostTcp.ok && hostTcp.data.includes("host-tcp"), `the host's own listener still answers: ${JSON.stringify(hostTcp)}`);

    // Once c1 is gone, the refused sandbox starts and publishes 8080 (nothing was held).
    await lab.berthOk(["rm", "-f", "c1"]);
    const ps = psJson(await lab.berthOk(["ps", "-a", "--format", "json"])).map((s) => s["Names"]);
    if (ps.includes("c2")) {
      // Left "created" by the refusal, as Docker does: it starts now and gets the port.
      await lab.berthOk(["start", "c2"]);
      assert.deepEqual(await portLines(lab, "c2"), ["80/tcp -> 0.0.0.0:8080"]);
      await lab.berthOk(["rm", "-f", "c2"]);
    }
    await runServer(lab, "c2", ["-p", "8080:80"], [{ proto: "http", port: 80 }]);
    assert.deepEqual(await portLines(lab, "c2"), ["80/tcp -> 0.0.0.0:8080"]);
    await assertReaches(lab, "outside -> c2 8080 after c1 left", out, "http", HOST_IP, 8080);
  });
});

// berthd's embedded DNS listens on each user network's gateway in the host namespace. Publishing
// port 53 must neither be refused because of it nor take its queries over (Docker's DNS lives at
// 127.0.0.11 inside each container, so there `-p 53:53/udp` simply works).
test("publishing 53/udp coexists with the embedded DNS of user networks", async () => {
  await withLab("p210d", {}, async (lab) => {
    await runServer(lab, "dns1", ["-p", "53:53/udp"], [{ proto: "udp", port: 53 }]);
    await lab.berthOk(["network", "create", "un1"]);
    await lab.berthOk(["run", "-d", "--name", "d1", "--network", "un1", "--", "sleep", "600"]);
    const ns = await lab.sandboxNs("d1");
    const gw = (await lab.berthOk(["exec", "d1", "--", "cat", "/etc/resolv.conf"])).match(/^nameserver (\S+)/m)?.[1];
    assert.ok(gw);
    const hijack = await lab.udpSend(ns, gw, 53, { send: "not dns" });
    assert.ok(!hijack.data.includes('"peer"'), `a datagram to the embedded DNS at ${gw}:53 was answered by dns1 (DNATed): ${hijack.data}`);
    const q = await lab.dnsQuery(ns, gw, "d1");
    assert.ok(q.ok && q.rcode === "NOERROR", `the embedded DNS must still answer d1: ${JSON.stringify(q)}`);
    const r = await lab.berth(["run", "-d", "--name", "dns2", "--network", "un1", "-p", "5353:53/udp", "-p", "53:53", "--", "sleep", "600"]);
    assert.equal(r.code, 0, `publishing 53/tcp while un1 exists: ${r.stderr}`);
  });
});
