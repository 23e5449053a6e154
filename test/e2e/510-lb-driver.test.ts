// The HAProxy driver (src/lb) against a real HAProxy 2.6 in master-worker mode, without berthd:
// HAProxy and four peer servers in a lab's host namespace, wrk in the outside namespace. Under
// constant load: servers added, drained and deleted, re-addressed and killed through the
// runtime API, and routes added and removed through hosts.map and back-end slots (no reload),
// with 0 failed requests; serialized reloads for a structural change; host routing by the Host
// header without its port; a 404 page for unknown hosts; X-Forwarded-For; a bad reload refused
// by `haproxy -c` with the old configuration still serving.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { backendName, type RenderInput } from "../../src/lb/config.js";
import { HaproxyDriver, writeInitialConfig } from "../../src/lb/driver.js";
import { serverRows } from "../../src/lb/stats-csv.js";
import { HOST_IP, OUTSIDE_IP, withLab, type Lab } from "./lab.js";
import { sleep } from "./lab-exec.js";
import { parseWrk, startWrk } from "./lb-helpers.js";

const BE_A = backendName("app", 80);
const BE_B = backendName("api", 80);

async function waitUp(driver: HaproxyDriver, backend: string, names: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rows = serverRows(await driver.api.stats()).filter((r) => r.pxname === driver.slotOf(backend));
    if (names.every((n) => rows.some((r) => r.svname === n && r.status === "UP"))) return;
    if (Date.now() > deadline) assert.fail(`${names.join(", ")} not UP in ${backend}: ${JSON.stringify(rows.map((r) => [r.svname, r.status, r.checkStatus]))}`);
    await sleep(100);
  }
}

const bodyPort = (data: string): number => (JSON.parse(data.trim().split("\n")[0] ?? "{}") as { localPort?: number }).localPort ?? 0;

async function portsSeen(lab: Lab, host: string, n: number): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const r = await lab.httpGet(lab.outsideNsPath, `http://${HOST_IP}:8080/`, { headers: { Host: host } });
    assert.equal(r.status, 200, `${host}: ${JSON.stringify(r)}`);
    seen.add(bodyPort(r.data));
  }
  return seen;
}

test("lb driver: runtime API changes and serialized reloads under load, 0 failed requests; host routing, 404, X-Forwarded-For", async () => {
  await withLab("lb510", { startBerthd: false }, async (lab) => {
    const host = lab.hostNsPath;
    const servers = new Map<number, Awaited<ReturnType<Lab["startServer"]>>>();
    for (const port of [9001, 9002, 9003, 9004]) servers.set(port, await lab.startServer(host, { proto: "http", port, bind: "127.0.0.1" }));
    const runDir = join(lab.dir, "lb");
    mkdirSync(runDir);
    const configPath = join(runDir, "haproxy.cfg");
    const s = (name: string, port: number) => ({ name, ip: "127.0.0.1", port });
    const base: RenderInput = {
      lb: "t",
      port: 8080,
      routes: [{ host: "app.example", backend: BE_A }],
      backends: [{ id: BE_A, service: "app", port: 80, servers: [s("app.1", 9001), s("app.2", 9002)] }],
      check: { kind: "http", path: "/" },
      stats: { uri: "/lbstats" },
      runDir,
    };
    await writeInitialConfig(base, configPath);
    const haproxy = await lab.spawnIn(host, ["haproxy", "-W", "-S", join(runDir, "master.sock"), "-f", configPath], { name: "haproxy" });
    const driver = new HaproxyDriver({ configPath, runDir });
    driver.started(base);
    const deadline = Date.now() + 10_000;
    while (!(await driver.api.cmd("show info").then(() => true, () => false))) {
      if (Date.now() > deadline) assert.fail(`haproxy did not start: ${haproxy.log()}`);
      await sleep(100);
    }
    await waitUp(driver, BE_A, ["app.1", "app.2"]);

    // Routing: by Host without its port, case-insensitive; unknown host -> 404 page; the client
    // address in X-Forwarded-For.
    assert.deepEqual([...(await portsSeen(lab, "App.Example:8080", 4))].sort(), [9001, 9002]);
    const unknown = await lab.httpGet(lab.outsideNsPath, `http://${HOST_IP}:8080/`, { headers: { Host: "nope.example" } });
    assert.equal(unknown.status, 404, JSON.stringify(unknown));
    assert.match(unknown.data, /no route for this host/);
    const hits = servers.get(9001)!.hits().concat(servers.get(9002)!.hits());
    assert.ok(hits.length > 0);
    const xff = JSON.stringify(hits);
    assert.match(xff, new RegExp(`"xff":"${OUTSIDE_IP.replace(/\./g, "\\.")}"`), `X-Forwarded-For reaches the back-end: ${xff.slice(0, 400)}`);

    // Under load, runtime changes only (replicas come and go): 0 failed requests.
    const wrk = await startWrk(lab, `http://${HOST_IP}:8080/`, { host: "app.example", seconds: 8, connections: 16 });
    await sleep(1000);
    let want: RenderInput = { ...base, backends: [{ ...base.backends[0]!, servers: [s("app.1", 9001), s("app.2", 9002), s("app.3", 9003)] }] };
    await driver.apply(want); // add
    await waitUp(driver, BE_A, ["app.3"]);
    want = { ...want, backends: [{ ...want.backends[0]!, servers: [s("app.2", 9002), s("app.3", 9003)] }] };
    await driver.apply(want); // drain + delete app.1
    want = { ...want, backends: [{ ...want.backends[0]!, servers: [s("app.2", 9002), s("app.3", 9004)] }] };
    await driver.apply(want); // re-address app.3
    await sleep(1000);
    // A server killed: HAProxy's check takes it out, requests in flight are retried elsewhere.
    await servers.get(9002)!.stop();
    const result = parseWrk(await wrk.done);
    console.log(`# wrk under runtime changes: ${result.requests} requests, ${result.failed} failed, p99 ${result.p99} ms, runtime ops ${driver.runtimeOps}`);
    assert.ok(result.requests > 100, `wrk made too few requests to mean anything: ${result.raw}`);
    assert.equal(result.failed, 0, `failed requests under runtime changes: ${result.raw}`);
    assert.equal(driver.reloads, 0, "replica changes never reload");
    assert.ok(driver.runtimeOps >= 3, "adds, removals and re-addresses went through the runtime API");

    // Under load, routes added and removed again and again (HAProxy 2.6 closes idle keep-alive
    // connections when a reload retires its old worker; route changes go through hosts.map and
    // a free back-end slot instead): 0 failed requests and no reload.
    const wrk2 = await startWrk(lab, `http://${HOST_IP}:8080/`, { host: "app.example", seconds: 8, connections: 16 });
    await sleep(1000);
    const one = want;
    const withApi: RenderInput = {
      ...one,
      routes: [...one.routes, { host: "api.example", backend: BE_B }],
      backends: [...one.backends, { id: BE_B, service: "api", port: 80, servers: [s("api.1", 9001)] }],
    };
    const cycles = 5;
    for (let i = 0; i < cycles; i++) {
      await driver.apply(withApi);
      const api = await lab.httpGet(lab.outsideNsPath, `http://${HOST_IP}:8080/`, { headers: { Host: "API.example:8080" } });
      assert.equal(bodyPort(api.data), 9001, `the new route answers at once (cycle ${i}): ${JSON.stringify(api)}`);
      await driver.apply(one);
      const gone = await lab.httpGet(lab.outsideNsPath, `http://${HOST_IP}:8080/`, { headers: { Host: "api.example" } });
      assert.equal(gone.status, 404, `the removed route is gone (cycle ${i})`);
    }
    const r2 = parseWrk(await wrk2.done);
    console.log(`# wrk under ${cycles} route add/rm cycles: ${r2.requests} requests, ${r2.failed} failed, p99 ${r2.p99} ms, reloads ${driver.reloads}`);
    assert.ok(r2.requests > 100, `wrk made too few requests to mean anything: ${r2.raw}`);
    assert.equal(r2.failed, 0, `failed requests while routes were added and removed: ${r2.raw}`);
    assert.equal(driver.reloads, 0, "route changes never reload");
    assert.equal(readFileSync(join(runDir, "hosts.map"), "utf8"), "app.example be_slot_0\n", "hosts.map follows the runtime changes");
    assert.deepEqual(serverRows(await driver.api.stats()).filter((r) => r.pxname === "be_slot_1"), [], "the freed slot holds no server");

    // Structural changes (the stats page): reloads, serialized and coalesced, the last one wins.
    // HAProxy 2.6's old worker closes idle keep-alive connections when it stops, which can race a
    // client's next request on one (2.7's idle-close-on-response fixes that): nearly every
    // request succeeds; the figure is measured in bench/.
    const wrk3 = await startWrk(lab, `http://${HOST_IP}:8080/`, { host: "app.example", seconds: 4, connections: 16 });
    await sleep(1000);
    const older = { ...want, stats: { uri: "/other" } };
    want = { ...want, stats: { uri: "/lbstats2" } };
    await Promise.all([driver.apply(older), driver.apply(want)]);
    assert.ok(driver.reloads >= 1 && driver.reloads <= 2, `reloads serialized and coalesced: ${driver.reloads}`);
    const st = await lab.httpGet(lab.outsideNsPath, `http://${HOST_IP}:8080/lbstats2`, { headers: { Host: "app.example" } });
    assert.match(st.data, /Statistics Report/, "the reloaded configuration serves");
    const r3 = parseWrk(await wrk3.done);
    console.log(`# wrk under reloads: ${r3.requests} requests, ${r3.failed} failed, p99 ${r3.p99} ms, reloads ${driver.reloads}`);
    assert.ok(r3.requests > 100 && r3.failed <= r3.requests / 1000, `at most 0.1% failed under reloads: ${r3.raw}`);
    // After a reload the slots and hosts.map are the files': a route still comes and goes without one.
    const reloads = driver.reloads;
    await driver.apply({ ...withApi, stats: want.stats });
    assert.equal(bodyPort((await lab.httpGet(lab.outsideNsPath, `http://${HOST_IP}:8080/`, { headers: { Host: "api.example" } })).data), 9001);
    await driver.apply(want);
    assert.equal(driver.reloads, reloads, "route changes after a reload need none either");

    // After everything: app.1 is gone, app.3 answers from 9004.
    const rows = serverRows(await driver.api.stats()).filter((r) => r.pxname === driver.slotOf(BE_A));
    assert.deepEqual(rows.map((r) => r.svname).sort(), ["app.2", "app.3"]);
    assert.ok(rows.find((r) => r.svname === "app.3")?.addr.endsWith(":9004"), JSON.stringify(rows));

    // A configuration HAProxy refuses: apply fails with HAProxy's message, the old one serves on.
    const bad = { ...want, check: { kind: "http" as const, path: '/a"b' } };
    await assert.rejects(driver.apply(bad), /haproxy -c refused the configuration/);
    assert.deepEqual([...(await portsSeen(lab, "app.example", 2))], [9004]);
  });
});
