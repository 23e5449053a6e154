// S23 services: `berth service create --name web --replicas 3 --network app -p 8080:80` with a
// TCP health check. The name resolves to the VIP, tasks.web to the healthy replicas, SRV
// _web._tcp.web to each replica's port with its A record in the additional section. New TCP and
// UDP flows to VIP:80 reach every replica and the replica sees the client's real address (from a
// sandbox, and from the outside through -p 8080); a replica reaching its own VIP works (hairpin);
// dnsrr resolves the name to the replicas; a killed replica is replaced; scale up and down;
// service ls/ps/inspect/logs/rm in Docker's shapes; nothing left after rm.

import assert from "node:assert/strict";
import { test } from "node:test";
import { HOST_IP, OUTSIDE_IP, withLab } from "./lab.js";
import { assertFails, ipOn, netInspect } from "./foundation.js";
import { assertA, dig, show } from "./names-helpers.js";
import { addrsOn, localOf, peerOf, replicaCmd, serviceInspect, tasksOf, waitFor, waitTasks } from "./svc-helpers.js";

const SLEEP = ["sleep", "600"];

test("S23 service behind a VIP: names, SRV, round-robin with real client addresses, hairpin, dnsrr, replace, scale", async () => {
  await withLab("s410", { upstreamDns: true }, async (lab) => {
    await lab.berthOk(["network", "create", "app"]);
    const gw = (await netInspect(lab, "app")).IPAM.Config[0]!.Gateway!;
    const id = (await lab.berthOk(["service", "create", "--name", "web", "--replicas", "3", "--network", "app", "--network-alias", "www", "-p", "8080:80", "-p", "80/udp", "--health-tcp", "80", "--health-interval", "300ms", "--health-retries", "2", "--", ...replicaCmd(lab, 80)])).trim();
    assert.match(id, /^[0-9a-z]{25}$/, `service create prints the service id: ${id}`);
    const tasks = await waitTasks(lab, "web", 3, true);
    assert.deepEqual(tasks.map((t) => t.Name).sort(), ["web.1", "web.2", "web.3"]);
    const replicas = addrsOn(tasks, "app").sort();
    assert.equal(replicas.length, 3, JSON.stringify(tasks));

    // ls and inspect in Docker's shapes.
    const ls = await lab.berthOk(["service", "ls"]);
    assert.match(ls, /^ID\s+NAME\s+MODE\s+REPLICAS\s+PORTS$/m, ls);
    assert.match(ls, /web\s+replicated\s+3\/3\s+\*:8080->80\/tcp, 80\/udp/, ls);
    const si = await serviceInspect(lab, "web");
    assert.equal(si.Spec.EndpointSpec.Mode, "vip");
    assert.equal(si.Endpoint.VirtualIPs.length, 1, JSON.stringify(si.Endpoint));
    const vip = si.Endpoint.VirtualIPs[0]!.Addr.split("/")[0]!;
    assert.ok(!replicas.includes(vip) && vip !== gw, `the VIP is an address of its own: ${vip}`);
    // Labels tie replicas to the service.
    const [r1] = await lab.berthJson<Array<{ Config: { Labels: Record<string, string> } }>>(["inspect", "web.1"]);
    assert.equal(r1!.Config.Labels["com.docker.swarm.service.id"], id);
    assert.equal(r1!.Config.Labels["com.docker.swarm.service.name"], "web");
    assert.equal(r1!.Config.Labels["com.docker.swarm.task.slot"], "1");

    // ---- names --------------------------------------------------------------------------
    await lab.berthOk(["run", "-d", "--name", "client", "--network", "app", "--", ...SLEEP]);
    const clientIp = await ipOn(lab, "client", "app");
    for (const n of ["web", "www", "web.app"]) assertA(await dig(lab, "client", gw, n), [vip], `A ${n}`);
    assertA(await dig(lab, "client", gw, "tasks.web"), replicas, "A tasks.web");
    const srv = await lab.berth(["exec", "client", "--", "dig", `@${gw}`, "+noall", "+answer", "+additional", "-t", "SRV", "_web._tcp.web"], { timeoutMs: 20_000 });
    const srvLines = srv.stdout.trim().split("\n").filter((l) => /\sSRV\s/.test(l));
    assert.equal(srvLines.length, 3, `three SRV records:\n${srv.stdout}`);
    for (const l of srvLines) assert.match(l, /SRV\s+1 1 80 web\.[123]\.app\.$/, l);
    const addl = srv.stdout.trim().split("\n").filter((l) => /^web\.[123]\.app\.\s.*\sA\s/.test(l));
    assert.deepEqual(addl.map((l) => l.trim().split(/\s+/).at(-1)).sort(), replicas, `an A record per target in the additional section:\n${srv.stdout}`);
    const udpSrv = await lab.berth(["exec", "client", "--", "dig", `@${gw}`, "+short", "-t", "SRV", "_web._udp.web"], { timeoutMs: 20_000 });
    assert.equal(udpSrv.stdout.trim().split("\n").length, 3, udpSrv.stdout);

    // ---- round-robin over the VIP, client address kept ----------------------------------
    const clientNs = await lab.sandboxNs("client");
    const seen = new Map<string, number>();
    for (let i = 0; i < 9; i++) {
      const r = await lab.tcpConnect(clientNs, vip, 80);
      assert.ok(r.ok, `tcp to VIP ${vip}:80: ${JSON.stringify(r)}`);
      assert.equal(peerOf(r), clientIp, `the replica sees the client's own address: ${r.data}`);
      seen.set(localOf(r), (seen.get(localOf(r)) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), replicas, `TCP flows reach every replica: ${JSON.stringify([...seen])}`);
    const useen = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const r = await lab.udpSend(clientNs, vip, 80, { send: `u${i}` });
      assert.ok(r.ok, `udp to VIP: ${JSON.stringify(r)}`);
      assert.equal(peerOf(r), clientIp, r.data);
      useen.add(localOf(r));
    }
    assert.deepEqual([...useen].sort(), replicas, "UDP flows reach every replica");
    // By name, as a program would.
    const byName = await lab.berth(["exec", "client", "--", "timeout", "3", "busybox", "nc", "web", "80"], { timeoutMs: 10_000 });
    assert.match(byName.stdout, new RegExp(`"peer":"${clientIp.replace(/\./g, "\\.")}"`), byName.stdout + byName.stderr);

    // From the outside through -p 8080: every replica, the outside's address kept.
    const oseen = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const r = await lab.tcpConnect(lab.outsideNsPath, HOST_IP, 8080);
      assert.ok(r.ok, `outside -> ${HOST_IP}:8080: ${JSON.stringify(r)}`);
      assert.equal(peerOf(r), OUTSIDE_IP, `the replica sees the outside client's address: ${r.data}`);
      oseen.add(localOf(r));
    }
    assert.deepEqual([...oseen].sort(), replicas, "published flows reach every replica");

    // Hairpin: a replica calling its own service's VIP reaches every replica, itself included.
    const r1Ns = await lab.sandboxNs("web.1");
    const hseen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await lab.tcpConnect(r1Ns, vip, 80);
      assert.ok(r.ok, `web.1 -> its own VIP: ${JSON.stringify(r)}`);
      hseen.add(localOf(r));
    }
    assert.deepEqual([...hseen].sort(), replicas, "hairpin flows reach every replica, the caller too");

    // ---- dnsrr --------------------------------------------------------------------------
    await lab.berthOk(["service", "create", "--name", "rr", "--endpoint-mode", "dnsrr", "--replicas", "2", "--network", "app", "--", ...replicaCmd(lab, 80)]);
    const rrTasks = await waitTasks(lab, "rr", 2, false);
    const rrAddrs = addrsOn(rrTasks, "app").sort();
    assert.equal((await serviceInspect(lab, "rr")).Endpoint.VirtualIPs.length, 0, "dnsrr has no VIP");
    const first = await dig(lab, "client", gw, "rr");
    assertA(first, rrAddrs, "A rr (dnsrr) gives the replicas");
    const second = await dig(lab, "client", gw, "rr");
    assert.notEqual(first.answers[0], second.answers[0], `dnsrr rotates: ${show(first)} / ${show(second)}`);

    // ---- a killed replica is replaced ---------------------------------------------------
    const before = tasks.find((t) => t.Name === "web.2")!;
    const [w2] = await lab.berthJson<Array<{ State: { Pid: number } }>>(["inspect", "web.2"]);
    await lab.inHostOk(["kill", "-9", String(w2!.State.Pid)]);
    const after = await waitFor("web.2 replaced by a new healthy replica", () => tasksOf(lab, "web"), (ts) => ts.length === 3 && ts.every((t) => /\(healthy\)/.test(t.CurrentState)) && !ts.some((t) => t.ID === before.ID), 45_000);
    assert.ok(after.some((t) => t.Name === "web.2"), "the replacement takes slot 2");

    // ---- scale up and down --------------------------------------------------------------
    assert.match(await lab.berthOk(["service", "scale", "web=5"]), /web scaled to 5/);
    const five = await waitTasks(lab, "web", 5, true);
    assertA(await dig(lab, "client", gw, "tasks.web"), addrsOn(five, "app"), "tasks.web after scale up");
    await lab.berthOk(["service", "scale", "web=2"]);
    const two = await waitTasks(lab, "web", 2, true);
    assert.deepEqual(two.map((t) => t.Name).sort(), ["web.1", "web.2"], "scale down removes the highest slots");
    assertA(await dig(lab, "client", gw, "tasks.web"), addrsOn(two, "app"), "tasks.web after scale down");
    const ps = await lab.berthOk(["ps", "-a"]);
    assert.doesNotMatch(ps, /web\.[345]/, ps);

    // ---- berthd restarts: the service, its replicas and its VIP carry on -----------------
    const idsBefore = two.map((t) => t.ID).sort();
    await lab.restartBerthd();
    const kept = await waitTasks(lab, "web", 2, true);
    assert.deepEqual(kept.map((t) => t.ID).sort(), idsBefore, "the same replicas are adopted, none replaced");
    assert.equal((await serviceInspect(lab, "web")).Endpoint.VirtualIPs[0]!.Addr.split("/")[0], vip, "the VIP is kept");
    const again = await lab.tcpConnect(clientNs, vip, 80);
    assert.ok(again.ok && addrsOn(kept, "app").includes(localOf(again)), `the VIP works after the restart: ${JSON.stringify(again)}`);

    // ---- logs, errors, rm ---------------------------------------------------------------
    const logs = await lab.berthOk(["service", "logs", "web"]);
    assert.match(logs, /^web\.1@\S+\s+\| ready/m, logs);
    assertFails(await lab.berth(["service", "create", "--name", "web", "--", ...SLEEP]), 1, "already exists", "duplicate name");
    assertFails(await lab.berth(["service", "create", "--name", "x", "--network", "nope", "--", ...SLEEP]), 1, "network nope not found", "unknown network");
    assertFails(await lab.berth(["service", "create", "--name", "y", "--endpoint-mode", "rr", "--", ...SLEEP]), 1, "--endpoint-mode", "bad mode");
    assertFails(await lab.berth(["service", "scale", "nope=2"]), 1, "service nope not found", "scale unknown");
    assertFails(await lab.berth(["network", "rm", "app"]), 1, "service web", "network in use by a service");
    // Without --name: a Docker-style random name (a DNS label).
    const anonId = (await lab.berthOk(["service", "create", "--replicas", "0", "--network", "app", "--", ...SLEEP])).trim();
    const anon = await serviceInspect(lab, anonId);
    assert.match(anon.Spec.Name, /^[a-z]+-[a-z]+\d*$/, `generated name: ${anon.Spec.Name}`);
    await lab.berthOk(["service", "rm", anonId]);
    await lab.berthOk(["service", "rm", "web", "rr"]);
    assert.equal((await lab.berthOk(["service", "ls", "-q"])).trim(), "");
    const left = await lab.berthOk(["ps", "-a"]);
    assert.doesNotMatch(left, /web\.|rr\./, left);
    const addrs = await lab.inHostOk(["ip", "-4", "addr", "show"]);
    assert.ok(!addrs.includes(`${vip}/32`), `the VIP left the bridge:\n${addrs}`);
    const els = await lab.inHostOk(["nft", "list", "map", "inet", "berth", "vip-backends"]);
    assert.ok(!els.includes(vip), `the VIP left the map:\n${els}`);
    await lab.berthOk(["rm", "-f", "client"]);
    await lab.berthOk(["network", "rm", "app"]);
  });
});
