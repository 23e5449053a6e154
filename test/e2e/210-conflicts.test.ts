// S10 through berthd and the CLI: a host port already used by another mapping, or by a process
// listening on the host, is refused with a clear error, and the refused sandbox leaves nothing
// behind: no bv* interface, no network namespace, no rule or set element, no port.

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Lab, type RunResult, withLab } from "./lab.js";
import { berthLinks, psJson } from "./foundation.js";
import { assertBlocked, assertReaches, HOST_IP, portLines, runServer, tableElements } from "./publish-helpers.js";

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

    // A process listening on the host (tcp and udp) holds its port.
    await lab.spawnIn(lab.hostNsPath, ["socat", "TCP4-LISTEN:8500,reuseaddr,fork", "SYSTEM:echo host-tcp"], { name: "host-tcp-8500" });
    await lab.spawnIn(lab.hostNsPath, ["socat", "UDP4-RECVFROM:5300,fork", "SYSTEM:echo host-udp"], { name: "host-udp-5300" });
    const deadline = Date.now() + 5000;
    while (!/:8500\s/.test(await lab.inHostOk(["ss", "-Hltn"])) || !/:5300\s/.test(await lab.inHostOk(["ss", "-Hlun"]))) {
      if (Date.now() > deadline) throw new Error("socat listeners did not start in the host namespace");
      await new Promise((r) => setTimeout(r, 100));
    }
    const r7 = await refused(lab, "c7", ["-p", "8500:80"], /8500/);
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
