// S24: `berth lb` in front of two services on an internal network, one published port, routing
// by host name (app.example and api.example, with or without the port in Host), a 404 page for
// other hosts, X-Forwarded-For, the stats page, `lb inspect` from HAProxy's runtime API, a
// replica killed and replaced under constant load with 0 failed requests, routes added and
// removed, and `lb rm` leaving nothing published.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fixturePath, HOST_IP, OUTSIDE_IP, withLab, type Lab } from "./lab.js";
import { parseWrk, startWrk } from "./lb-helpers.js";
import { portLines } from "./publish-helpers.js";
import { addrsOn, waitFor, waitTasks } from "./svc-helpers.js";

interface ServerJson { Name: string; Address: string; Status: string; CheckStatus: string; LastCheck: string }
interface LbJson {
  Name: string;
  HAProxy: string;
  Ports: string[];
  Routes: Array<{ Host: string; Service: string; Port: number; Backend: string }>;
  Slots: number;
  Backends: Array<{ Name: string; Slot: string; Service: string; Servers: ServerJson[] }>;
  Reloads: number;
  RuntimeChanges: number;
}

/** An HTTP replica: the peer server on port 80, hits in one file per service. */
const httpReplica = (lab: Lab, svc: string) => ["sh", "-c", `exec ${process.execPath} ${fixturePath("peer-server")} --proto http --port 80 --hits ${join(lab.dir, `${svc}.hits`)}`];

const inspectLb = async (lab: Lab, name: string): Promise<LbJson> => (await lab.berthJson<LbJson[]>(["lb", "inspect", name, "--format", "json"]))[0]!;

function upServers(lb: LbJson, backend: string): string[] {
  return (lb.Backends.find((b) => b.Name === backend)?.Servers ?? []).filter((s) => s.Status === "UP").map((s) => s.Name).sort();
}

const localOf = (data: string): string => (JSON.parse(data.trim().split("\n")[0] ?? "{}") as { local?: string }).local ?? "";

test("S24 berth lb: two host names on one port, 404, X-Forwarded-For, /lbstats, inspect, a replica killed under load with 0 failed", async () => {
  await withLab("lb520", {}, async (lab) => {
    const out = lab.outsideNsPath;
    await lab.berthOk(["network", "create", "--internal", "back"]);
    for (const svc of ["app", "api"]) {
      await lab.berthOk(["service", "create", "--name", svc, "--replicas", "2", "--network", "back", "-p", "80", "--health-tcp", "80", "--health-interval", "300ms", "--health-retries", "2", "--", ...httpReplica(lab, svc)]);
    }
    const appAddrs = addrsOn(await waitTasks(lab, "app", 2, true), "back");
    const apiAddrs = addrsOn(await waitTasks(lab, "api", 2, true), "back");

    // Bad input is refused with a message naming what to fix, and nothing is made.
    const bad = await lab.berth(["lb", "create", "x", "--network", "back", "-p", "80:80", "--route", "app.example=nosuch"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /service nosuch not found/, bad.stderr);
    const bad2 = await lab.berth(["lb", "create", "x", "--network", "back", "-p", "80:80", "--route", "app.example:80=app"]);
    assert.match(bad2.stderr, /invalid host name "app.example:80"/, bad2.stderr);
    const bad3 = await lab.berth(["lb", "create", "x", "--network", "back", "-p", "80:80", "--front", "back", "--route", "a.example=app"]);
    const bad4 = await lab.berth(["lb", "create", "x", "--network", "back", "-p", "80:80", "--slots", "0", "--route", "a.example=app"]);
    assert.match(bad4.stderr, /invalid --slots "0": give a number of back-end slots from 1 to 1000/, bad4.stderr);
    assert.match(bad3.stderr, /front network back cannot publish a port \(internal\)/, bad3.stderr);
    assert.equal((await lab.berthOk(["lb", "ls"])).trim().split("\n").length, 1, "no load balancer was made");

    await lab.berthOk(["lb", "create", "front", "--network", "back", "-p", "80:80", "--route", "app.example=app", "--route", "api.example=api", "--stats", "/lbstats"]);
    assert.deepEqual(await portLines(lab, "front"), ["80/tcp -> 0.0.0.0:80"]);
    const lb = await waitFor("all four servers UP in lb inspect", () => inspectLb(lab, "front"), (l) => upServers(l, "be_app_80").length === 2 && upServers(l, "be_api_80").length === 2);
    assert.deepEqual(upServers(lb, "be_app_80"), ["app.1", "app.2"]);
    assert.equal(lb.HAProxy, "running");
    const app1 = lb.Backends.find((b) => b.Name === "be_app_80")!.Servers.find((s) => s.Name === "app.1")!;
    assert.match(app1.CheckStatus, /L7OK/, "the HTTP check of every server, read from the runtime API");
    const human = await lab.berthOk(["lb", "inspect", "front"]);
    assert.match(human, /app\.example -> be_app_80/, human);
    assert.match(human, /^app\.1\s+\d+\.\d+\.\d+\.\d+:80\s+UP\s+L7OK 200/m, human);
    const ls = await lab.berthOk(["lb", "ls"]);
    assert.match(ls, /front\s+0\.0\.0\.0:80->80\/tcp\s+app\.example->app:80, api\.example->api:80\s+back\s+running/, ls);

    // Routing by Host without its port, case-insensitive; every replica of each service answers.
    const seen = { app: new Set<string>(), api: new Set<string>() };
    for (const [host, svc] of [["app.example", "app"], ["App.Example:80", "app"], ["api.example", "api"], ["api.example:80", "api"]] as const) {
      for (let i = 0; i < 4; i++) {
        const r = await lab.httpGet(out, `http://${HOST_IP}/`, { headers: { Host: host } });
        assert.equal(r.status, 200, `${host}: ${JSON.stringify(r)}`);
        const local = localOf(r.data);
        assert.ok((svc === "app" ? appAddrs : apiAddrs).includes(local), `${host} must reach ${svc}, got ${local}`);
        seen[svc].add(local);
      }
    }
    assert.equal(seen.app.size, 2, "round robin over app's replicas");
    assert.equal(seen.api.size, 2, "round robin over api's replicas");
    const none = await lab.httpGet(out, `http://${HOST_IP}/`, { headers: { Host: "other.example" } });
    assert.equal(none.status, 404, JSON.stringify(none));
    assert.match(none.data, /no route for this host/);
    assert.match(readFileSync(join(lab.dir, "app.hits"), "utf8"), new RegExp(`"xff":"${OUTSIDE_IP.replace(/\./g, "\\.")}"`), "X-Forwarded-For carries the client's address");

    // The stats page, HTML and CSV, from the outside.
    const html = await lab.httpGet(out, `http://${HOST_IP}/lbstats`);
    assert.equal(html.status, 200);
    assert.match(html.data, /Statistics Report/);
    // HAProxy's back-ends are slots of a fixed pool; inspect names the back-end each slot holds.
    const slotOfApp = (await inspectLb(lab, "front")).Backends.find((b) => b.Name === "be_app_80")?.Slot ?? "";
    assert.match(slotOfApp, /^be_slot_\d+$/);
    assert.equal((await inspectLb(lab, "front")).Slots, 32, "32 back-end slots by default");
    for (const s of [slotOfApp, "app.1", "app.2", "api.1", "api.2"]) assert.ok(html.data.includes(s), `stats page lists ${s}`);
    const csv = await lab.httpGet(out, `http://${HOST_IP}/lbstats;csv`);
    for (const s of ["app.1", "app.2"]) assert.match(csv.data, new RegExp(`^${slotOfApp},${s.replace(".", "\\.")},(?:[^,]*,){15}UP,`, "m"), csv.data);

    // Under constant load: a replica killed; the service replaces it and the load balancer
    // follows through the runtime API (no reload): 0 failed requests.
    const reloads = (await inspectLb(lab, "front")).Reloads;
    const wrk = await startWrk(lab, `http://${HOST_IP}/`, { host: "app.example", seconds: 10, connections: 16 });
    await new Promise((r) => setTimeout(r, 2000));
    const [victim] = await lab.berthJson<Array<{ Id: string; State: { Pid: number } }>>(["inspect", "app.1"]);
    process.kill(victim!.State.Pid, "SIGKILL");
    const result = parseWrk(await wrk.done);
    console.log(`# wrk through berth lb, replica killed: ${result.requests} requests, ${result.failed} failed, p99 ${result.p99} ms`);
    assert.ok(result.requests > 100, result.raw);
    assert.equal(result.failed, 0, `failed requests while a replica was killed and replaced: ${result.raw}`);
    await waitTasks(lab, "app", 2, true);
    const after = await waitFor("app.1 replaced and UP again", () => inspectLb(lab, "front"), (l) => upServers(l, "be_app_80").length === 2);
    const [replaced] = await lab.berthJson<Array<{ Id: string }>>(["inspect", "app.1"]);
    assert.notEqual(replaced!.Id, victim!.Id, "app.1 is a new replica");
    assert.equal(after.Reloads, reloads, "replica changes go through the runtime API, without a reload");
    assert.ok(after.RuntimeChanges > 0);

    // Routes added and removed under constant load: hosts.map and a back-end slot changed through
    // the runtime API, no reload, 0 failed requests.
    const wrk2 = await startWrk(lab, `http://${HOST_IP}/`, { host: "app.example", seconds: 10, connections: 16 });
    await new Promise((r) => setTimeout(r, 1000));
    await lab.berthOk(["lb", "route", "add", "front", "www.example=app"]);
    const www = await lab.httpGet(out, `http://${HOST_IP}/`, { headers: { Host: "www.example" } });
    assert.equal(www.status, 200, JSON.stringify(www));
    await lab.berthOk(["network", "create", "elsewhere"]);
    await lab.berthOk(["service", "create", "--name", "far", "--network", "elsewhere", "-p", "80", "--", ...httpReplica(lab, "far")]);
    const far = await lab.berth(["lb", "route", "add", "front", "far.example=far"]);
    assert.match(far.stderr, /service far is not on any back-end network of the load balancer \(back\)/, far.stderr);
    const missing = await lab.berth(["lb", "inspect", "nosuch"]);
    assert.match(missing.stderr, /load balancer nosuch not found/, missing.stderr);
    const taken = await lab.berth(["lb", "create", "second", "--network", "back", "-p", "80:80", "--default", "app"]);
    assert.match(taken.stderr, /Bind for 0\.0\.0\.0:80 failed: port is already allocated/, taken.stderr);
    assert.equal((await lab.berth(["inspect", "second"])).code, 1, "a refused lb create leaves no sandbox");
    const dup = await lab.berth(["lb", "route", "add", "front", "www.example=api"]);
    assert.match(dup.stderr, /host www.example is already routed/, dup.stderr);
    await lab.berthOk(["lb", "route", "rm", "front", "www.example"]);
    assert.equal((await lab.httpGet(out, `http://${HOST_IP}/`, { headers: { Host: "www.example" } })).status, 404);
    // The only route to a service: removed, its slot is drained and freed; added again, it takes
    // a free slot and answers at once.
    await lab.berthOk(["lb", "route", "rm", "front", "api.example"]);
    assert.equal((await lab.httpGet(out, `http://${HOST_IP}/`, { headers: { Host: "api.example" } })).status, 404);
    await lab.berthOk(["lb", "route", "add", "front", "api.example=api"]);
    assert.equal((await lab.httpGet(out, `http://${HOST_IP}/`, { headers: { Host: "api.example" } })).status, 200);
    const r2 = parseWrk(await wrk2.done);
    console.log(`# wrk through berth lb, routes added and removed: ${r2.requests} requests, ${r2.failed} failed, p99 ${r2.p99} ms`);
    assert.ok(r2.requests > 100, r2.raw);
    assert.equal(r2.failed, 0, `failed requests while routes were added and removed: ${r2.raw}`);
    assert.equal((await inspectLb(lab, "front")).Reloads, reloads, "route changes go through the runtime API, without a reload");

    // berthd restarts: HAProxy keeps serving, the load balancer comes back from the store and
    // berthd reads HAProxy's servers again (runtime API).
    await lab.restartBerthd();
    assert.equal((await lab.httpGet(out, `http://${HOST_IP}/`, { headers: { Host: "api.example" } })).status, 200);
    const again = await inspectLb(lab, "front");
    assert.equal(again.HAProxy, "running");
    assert.deepEqual(again.Routes.map((r) => r.Host), ["app.example", "api.example"], "routes kept across the restart");
    await lab.berthOk(["service", "scale", "app=3"]);
    await waitFor("app.3 UP after berthd restarted", () => inspectLb(lab, "front"), (l) => upServers(l, "be_app_80").length === 3);

    // lb rm: nothing published any more, the sandbox is gone.
    await lab.berthOk(["lb", "rm", "front"]);
    const gone = await lab.httpGet(out, `http://${HOST_IP}/`, { headers: { Host: "app.example" }, timeoutMs: 1500 });
    assert.notEqual(gone.status, 200, "port 80 no longer answers after lb rm");
    assert.equal((await lab.berth(["inspect", "front"])).code, 1);
    assert.equal((await lab.berthOk(["lb", "ls"])).trim().split("\n").length, 1);
  });
});
