// S21: host services. berthd --host-service consul.local=169.254.32.1:80->8500 and a server on
// the lab host's 127.0.0.1:8500: every bridged sandbox (default bridge, user network, internal
// network) reaches it at 169.254.32.1:80 and by the name consul.local (/etc/hosts everywhere,
// berth's DNS on user networks); the outside cannot reach it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { HOST_IP, withLab } from "./lab.js";
import { netInspect } from "./foundation.js";
import { assertA, catIn, dig } from "./names-helpers.js";

const SLEEP = ["sleep", "600"];
const SVC_IP = "169.254.32.1";

test("S21 host service on a link-local address: reachable from sandboxes by address and name, not from outside", async () => {
  await withLab("s330", { upstreamDns: true, berthdArgs: ["--host-service", `consul.local=${SVC_IP}:80->8500`] }, async (lab) => {
    const server = await lab.startServer(lab.hostNsPath, { proto: "http", port: 8500, bind: "127.0.0.1" });

    await lab.berthOk(["network", "create", "my-net"]);
    await lab.berthOk(["network", "create", "--internal", "int-net"]);
    const gw = (await netInspect(lab, "my-net")).IPAM.Config[0]!.Gateway!;
    const igw = (await netInspect(lab, "int-net")).IPAM.Config[0]!.Gateway!;
    await lab.berthOk(["run", "-d", "--name", "b1", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "u1", "--network", "my-net", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "i1", "--network", "int-net", "--", ...SLEEP]);

    for (const name of ["b1", "u1", "i1"]) {
      // By address, with the probe in the sandbox's namespace.
      const ns = await lab.sandboxNs(name);
      const r = await lab.httpGet(ns, `http://${SVC_IP}:80/from-${name}`);
      assert.ok(r.ok && r.status === 200, `${name} -> ${SVC_IP}:80: ${JSON.stringify(r)}`);
      assert.ok(server.hits().some((h) => h.path === `/from-${name}`), `the host's 127.0.0.1:8500 got ${name}'s request: ${JSON.stringify(server.hits())}`);

      // /etc/hosts names it everywhere, before the sandbox's own line.
      const hosts = (await catIn(lab, name, "/etc/hosts")).trimEnd().split("\n");
      const i = hosts.findIndex((l) => /^169\.254\.32\.1\s+consul\.local$/.test(l));
      assert.ok(i >= 6 && i < hosts.length - 1, `${name}'s /etc/hosts has the host service line before its own:\n${hosts.join("\n")}`);

      // By name, as a program would: busybox wget resolves through /etc/hosts (or DNS).
      const w = await lab.berth(["exec", name, "--", "timeout", "3", "busybox", "wget", "-qO-", "http://consul.local/by-name"], { timeoutMs: 10_000 });
      assert.equal(w.code, 0, `${name}: wget http://consul.local/: ${w.stderr}`);
      assert.equal(JSON.parse(w.stdout).path, "/by-name", w.stdout);
    }

    // berth's DNS answers the name and its PTR on user networks (internal ones too).
    assertA(await dig(lab, "u1", gw, "consul.local"), [SVC_IP], "consul.local from u1 via DNS");
    assertA(await dig(lab, "i1", igw, "consul.local"), [SVC_IP], "consul.local from i1 (internal) via DNS");
    const ptr = await dig(lab, "u1", gw, SVC_IP, { reverse: true });
    assert.deepEqual(ptr.answers, ["consul.local."], `PTR of ${SVC_IP}`);
    assert.ok(!lab.upstreamDns!.queries().some((q) => q.name === "consul.local"), "the host service name is never asked upstream");

    // The outside: even with a route to the link-local address through the host, nothing answers.
    await lab.inOutsideOk(["ip", "route", "add", `${SVC_IP}/32`, "via", HOST_IP]);
    const hitsBefore = server.hits().length;
    for (const [ip, port] of [[SVC_IP, 80], [HOST_IP, 8500], [HOST_IP, 80]] as const) {
      const r = await lab.tcpConnect(lab.outsideNsPath, ip, port, { timeoutMs: 1500 });
      assert.ok(!r.ok, `outside -/-> ${ip}:${port}: ${JSON.stringify(r)}`);
    }
    const fromOutside = await lab.httpGet(lab.outsideNsPath, `http://${SVC_IP}:80/from-outside`, { timeoutMs: 1500 });
    assert.ok(!fromOutside.ok, JSON.stringify(fromOutside));
    assert.equal(server.hits().length, hitsBefore, "the host service saw no request from the outside");
    // The outside does reach the host itself (so the route above is real).
    assert.ok(await lab.ping(lab.outsideNsPath, HOST_IP));
  });
});
