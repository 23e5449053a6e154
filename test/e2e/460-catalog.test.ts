// S25: the catalog in Consul's shape, read and written with the npm consul client over berthd's
// socket and from inside a sandbox at consul.local (the TCP listener behind a host service) and
// Consul's DNS names (db.service.consul A, _db._tcp.service.consul SRV) from berth's DNS:
// services registered with a TCP check that berthd performs against a real listener (passing,
// then critical when it stops), blocking queries and a watch woken by a change, X-Consul-Index
// rules, bad input refused, registrations kept across a restart, non-loopback --catalog-addr refused.

import assert from "node:assert/strict";
import { test } from "node:test";
import { HOST_IP, OUTSIDE_IP, withLab } from "./lab.js";
import { consulClient, consulIndex, raw, waitFor } from "./catalog-helpers.js";
import { netInspect } from "./foundation.js";
import { assertA, dig } from "./names-helpers.js";

type HealthEntry = { Service: { ID: string; Address: string; Port: number }; Checks: Array<{ CheckID: string; Status: string; Output: string }> };
type CatalogEntry = { ServiceID: string; ServiceAddress: string; ServicePort: number; Node: string; Address: string };

test("S25 catalog: consul client lists, reads, registers with a TCP check, watches; consul.local inside a sandbox", async () => {
  await withLab("cgf460", { berthdReadyTimeoutMs: 30_000, upstreamDns: true, berthdArgs: ["--catalog-host-service", "consul.local=169.254.32.1:80"] }, async (lab) => {
    const consul = consulClient(lab);
    try {
      // The agent and the node: the berth host, with its address on the lab's uplink.
      assert.equal(await consul.status.leader(), `${HOST_IP}:8300`);
      const members = (await consul.agent.members()) as Array<{ Name: string; Addr: string; Status: number }>;
      assert.equal(members.length, 1);
      assert.equal(members[0]!.Addr, HOST_IP);
      assert.equal(members[0]!.Status, 1);
      const self = (await consul.agent.self()) as { Config: { Datacenter: string; NodeName: string } };
      assert.equal(self.Config.Datacenter, "dc1");
      assert.equal(self.Config.NodeName, members[0]!.Name);
      assert.deepEqual(await consul.catalog.service.list(), {});

      // A database outside berth, with a TCP check berthd performs against a real listener.
      const db = await lab.outsideServer({ proto: "tcp", port: 5432 });
      await consul.agent.service.register({ name: "db", id: "db1", address: OUTSIDE_IP, port: 5432, tags: ["primary"], check: { tcp: `${OUTSIDE_IP}:5432`, interval: "1s", timeout: "500ms" } } as never);
      const passing = await waitFor("db1 passing", () => consul.health.service({ service: "db", passing: true }) as Promise<HealthEntry[]>, (l) => l.length === 1);
      assert.equal(passing[0]!.Service.ID, "db1");
      assert.match(passing[0]!.Checks.find((c) => c.CheckID === "service:db1")!.Output, /TCP connect 192\.0\.2\.2:5432: Success/);
      assert.ok(db.hits().length >= 1, "berthd's check connected to the listener");
      assert.deepEqual(await consul.catalog.service.list(), { db: ["primary"] });
      const nodes = (await consul.catalog.service.nodes("db")) as CatalogEntry[];
      assert.deepEqual(nodes.map((n) => [n.ServiceID, n.ServiceAddress, n.ServicePort, n.Address]), [["db1", OUTSIDE_IP, 5432, HOST_IP]]);

      // A watch (blocking queries) sees a second instance as soon as it is registered.
      const watch = consul.watch({ method: consul.health.service, options: { service: "db", passing: "true", wait: "30s" } as never });
      const seen: Array<{ at: number; ids: string[] }> = [];
      watch.on("change", (data: HealthEntry[]) => seen.push({ at: Date.now(), ids: data.map((e) => e.Service.ID).sort() }));
      const errors: unknown[] = [];
      watch.on("error", (e: unknown) => errors.push(e));
      try {
        await waitFor("the watch's first answer", async () => seen.length, (n) => n >= 1);
        const t0 = Date.now();
        await consul.agent.service.register({ name: "db", id: "db2", address: "192.0.2.3", port: 5432 } as never);
        const change = await waitFor("the watch seeing db2", async () => seen.find((s) => s.ids.includes("db2")), (s) => s !== undefined, 10_000);
        assert.ok(change!.at - t0 < 1000, `the watch saw the change ${change!.at - t0} ms after the registration (a blocking query, wait 30s, woke)`);
        assert.deepEqual(change!.ids, ["db1", "db2"]);
        assert.deepEqual(errors, []);
      } finally {
        watch.end();
      }

      // The listener stops: berthd's next check turns db1 critical; ?passing leaves it out.
      await db.stop();
      const critical = await waitFor("db1 critical", () => consul.health.service({ service: "db" }) as Promise<HealthEntry[]>, (l) => l.find((e) => e.Service.ID === "db1")?.Checks.some((c) => c.Status === "critical") === true);
      assert.match(critical.find((e) => e.Service.ID === "db1")!.Checks.find((c) => c.CheckID === "service:db1")!.Output, /ECONNREFUSED/);
      const nowPassing = (await consul.health.service({ service: "db", passing: true })) as HealthEntry[];
      assert.deepEqual(nowPassing.map((e) => e.Service.ID), ["db2"]);

      // Inside a sandbox: consul.local reaches the catalog (host service -> 127.0.0.1:8500).
      await lab.berthOk(["network", "create", "app"]);
      await lab.berthOk(["run", "-d", "--name", "c1", "--network", "app", "--", "sleep", "600"]);
      const w = await lab.berth(["exec", "c1", "--", "timeout", "5", "busybox", "wget", "-qO-", "http://consul.local/v1/agent/members"], { timeoutMs: 15_000 });
      assert.equal(w.code, 0, `wget http://consul.local/v1/agent/members from c1: ${w.stderr}`);
      assert.equal((JSON.parse(w.stdout) as Array<{ Addr: string }>)[0]!.Addr, HOST_IP, w.stdout);
      const h = await lab.berth(["exec", "c1", "--", "timeout", "5", "busybox", "wget", "-qO-", "http://consul.local/v1/health/service/db?passing"], { timeoutMs: 15_000 });
      assert.deepEqual((JSON.parse(h.stdout) as HealthEntry[]).map((e) => e.Service.ID), ["db2"], h.stdout + h.stderr);

      // Consul's DNS names from berth's DNS: healthy instances only (db1 is critical).
      const gw = (await netInspect(lab, "app")).IPAM.Config[0]!.Gateway!;
      assertA(await dig(lab, "c1", gw, "db.service.consul"), ["192.0.2.3"], "db.service.consul");
      const srv = await lab.berth(["exec", "c1", "--", "dig", `@${gw}`, "+noall", "+answer", "+additional", "+time=2", "+tries=1", "-t", "SRV", "_db._tcp.service.consul"], { timeoutMs: 15_000 });
      const rr = srv.stdout.split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/));
      assert.deepEqual(rr.map((f) => [f[0], f[3], ...f.slice(4)]), [
        ["_db._tcp.service.consul.", "SRV", "1", "1", "5432", "c0000203.addr.dc1.consul."],
        ["c0000203.addr.dc1.consul.", "A", "192.0.2.3"],
      ], srv.stdout + srv.stderr);

      // Registrations survive a restart of berthd.
      await lab.restartBerthd();
      assert.deepEqual(((await consul.catalog.service.nodes("db")) as CatalogEntry[]).map((n) => n.ServiceID), ["db1", "db2"]);

      // Deregister: PUT through the client, GET as other clients send it; an unknown ID is a 404.
      await consul.agent.service.deregister("db1");
      const g = await raw(lab, "GET", "/v1/agent/service/deregister/db2");
      assert.equal(g.status, 200, g.text);
      assert.deepEqual(await consul.catalog.service.list(), {});
      const unknown = await raw(lab, "PUT", "/v1/agent/service/deregister/db2");
      assert.equal(unknown.status, 404);
      assert.match(unknown.text, /Unknown service ID "db2"/);
    } finally {
      consul.destroy();
    }
  });
});

test("S25 catalog: X-Consul-Index on every read, blocking until a covered change, bad input refused", async () => {
  await withLab("cgf461", {}, async (lab) => {
    // Every read carries an index >= 1, a 404 too.
    const list = await raw(lab, "GET", "/v1/catalog/services");
    assert.equal(list.status, 200);
    const i0 = consulIndex(list);
    assert.ok(i0 >= 1, JSON.stringify(list.headers));
    const missing = await raw(lab, "GET", "/v1/nope");
    assert.equal(missing.status, 404);
    assert.ok(consulIndex(missing) >= 1);
    assert.match((JSON.parse(missing.text) as { message: string }).message, /Unknown API endpoint \/v1\/nope/);
    const never = await raw(lab, "GET", "/v1/health/service/web");
    assert.equal(never.text, "[]");
    assert.ok(consulIndex(never) >= 1);

    // A blocking query times out with the index unchanged...
    const t = await raw(lab, "GET", `/v1/catalog/services?index=${i0}&wait=300ms`);
    assert.equal(consulIndex(t), i0);
    assert.ok(t.ms >= 280, `returned after ${t.ms} ms: it waited`);
    // ...and returns when something it covers changes, not for something else.
    const onWeb = raw(lab, "GET", `/v1/health/service/web?index=${consulIndex(never)}&wait=20s`);
    const onApi = raw(lab, "GET", `/v1/health/service/api?index=1&wait=2s`);
    await new Promise((r) => setTimeout(r, 200));
    const reg = await raw(lab, "PUT", "/v1/agent/service/register", { Name: "web", Address: "10.1.1.1", Port: 80 });
    assert.equal(reg.status, 200, reg.text);
    const woke = await onWeb;
    assert.ok(woke.ms < 10_000, `woke after ${woke.ms} ms`);
    assert.ok(consulIndex(woke) > consulIndex(never));
    assert.deepEqual((JSON.parse(woke.text) as HealthEntry[]).map((e) => e.Service.Address), ["10.1.1.1"]);
    const api = await onApi;
    assert.ok(api.ms >= 1900, `the query on api was not woken by web (${api.ms} ms)`);
    assert.equal(consulIndex(api), 1);

    // Keys in any case; snake_case too.
    const snake = await raw(lab, "PUT", "/v1/agent/service/register", { name: "cache", ID: "cache-1", address: "10.1.1.2", PORT: 6379, enable_tag_override: true });
    assert.equal(snake.status, 200, snake.text);
    const cache = JSON.parse((await raw(lab, "GET", "/v1/catalog/service/cache")).text) as Array<{ ServiceID: string; ServicePort: number; ServiceEnableTagOverride: boolean }>;
    assert.deepEqual(cache.map((c) => [c.ServiceID, c.ServicePort, c.ServiceEnableTagOverride]), [["cache-1", 6379, true]]);

    // Bad input: a clear 400 naming the field, nothing registered, berthd still answers.
    const bad = [
      [{ Name: "x", Port: "80" }, /Port/],
      [{ Port: 80 }, /Name/],
      [{ Name: "x", Check: { TTL: "10s" } }, /HTTP and TCP checks only/],
      [{ Name: "x", Check: { TCP: "10.0.0.1:5432", Interval: "often" } }, /Interval/],
      ["{not json", /not valid JSON/],
      [{ Name: "x; rm -rf /" }, /Name/],
    ] as const;
    for (const [body, msg] of bad) {
      const r = await raw(lab, "PUT", "/v1/agent/service/register", body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.match(r.text, msg);
    }
    for (const q of ["index=x", "wait=10", "passing=maybe"]) {
      const r = await raw(lab, "GET", `/v1/health/service/web?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
    }
    const ctl = await raw(lab, "GET", "/v1/health/service/web%0Aevil");
    assert.equal(ctl.status, 400, ctl.text);
    assert.match(ctl.text, /control characters/);
    // One check ID belongs to one service.
    assert.equal((await raw(lab, "PUT", "/v1/agent/service/register", { Name: "checked", Check: { TCP: "127.0.0.1:1", Interval: "10s" } })).status, 200);
    const clash = await raw(lab, "PUT", "/v1/agent/service/register", { Name: "other", Check: { CheckID: "service:checked", TCP: "127.0.0.1:1", Interval: "10s" } });
    assert.equal(clash.status, 400, clash.text);
    assert.match(clash.text, /CheckID "service:checked" belongs to service "checked"/);
    assert.equal((await raw(lab, "PUT", "/v1/agent/service/deregister/checked")).status, 200);
    const wrongMethod = await raw(lab, "POST", "/v1/catalog/services");
    assert.equal(wrongMethod.status, 405);
    assert.deepEqual(Object.keys(JSON.parse((await raw(lab, "GET", "/v1/catalog/services")).text) as object).sort(), ["cache", "web"]);
    assert.equal((await lab.api("GET", "/_ping")).text, "OK");

    // DeregisterCriticalServiceAfter: a service critical that long leaves the catalog by itself.
    assert.equal((await raw(lab, "PUT", "/v1/agent/service/register", { Name: "gone", Check: { TCP: "127.0.0.1:1", Interval: "1s", DeregisterCriticalServiceAfter: "1s" } })).status, 200);
    await waitFor("gone to be deregistered", async () => Object.keys(JSON.parse((await raw(lab, "GET", "/v1/catalog/services")).text) as object), (l) => !l.includes("gone"), 20_000);
    assert.match(lab.berthdLog(), /deregistering gone: check service:gone critical/);

    // A non-loopback --catalog-addr is refused with what to do; nothing is started.
    const r = await lab.inHost(["node", `${lab.repoRoot}/bin/berthd`, "--data-root", `${lab.dir}/other`, "--catalog-addr", "0.0.0.0:8500"], { timeoutMs: 15_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a loopback address.*--catalog-allow-remote/);
  });
});
