// S23 "out of rotation in time": 10 client workers open new connections to the VIP without pause
// (well over 100 in all) while (1) a replica's health check starts failing: no connection started
// after berthd declared it unhealthy (and updated the firewall) reaches it, the others all succeed,
// and it is replaced; (2) a replica is killed: no connection started after berthd saw the exit
// fails. Then a rolling update with --update-parallelism 2 of 4 replicas: the VIP map never holds
// fewer than 4-2 replicas, connections keep succeeding, and every replica ends on the new spec.

import assert from "node:assert/strict";
import { existsSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fixturePath, withLab, type Lab } from "./lab.js";
import { addrsOn, replicaCmd, serviceInspect, tasksOf, waitFor, waitTasks } from "./svc-helpers.js";

const SLEEP = ["sleep", "600"];

interface Conn {
  t: number;
  ok: boolean;
  local: string;
  error?: string;
}

async function connLoop(lab: Lab, ns: string, vip: string, ms: number, name: string): Promise<() => Promise<Conn[]>> {
  // A 3 s connect timeout: a flow sent to a replica out of rotation never connects (it is caught
  // whatever the timeout), while on a loaded machine (CI beside other suites, load 8) a healthy
  // replica's answer once took more than the fixture's default 1 s.
  const proc = await lab.spawnIn(ns, [process.execPath, fixturePath("conn-loop"), vip, "80", "--workers", "10", "--ms", String(ms), "--timeout", "3000"], { name, readyPattern: /^ready$/m });
  return async () => {
    await proc.exited;
    return proc
      .log()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Conn);
  };
}

/** Time of berthd's log line matching re (its ISO timestamp), waiting for it. */
async function logTime(lab: Lab, re: RegExp, what: string, from = 0): Promise<number> {
  const line = await waitFor(what, async () => lab.berthdLog().slice(from).split("\n").find((l) => re.test(l)), (l) => l !== undefined, 30_000);
  return Date.parse(line!.split(" ")[0]!);
}

test("S23 replicas leave the rotation at the check that declares them; rolling update keeps K-P", async () => {
  await withLab("r420", { upstreamDns: true }, async (lab) => {
    await lab.berthOk(["network", "create", "app"]);
    const flag = (host: string) => join(lab.dir, `down-${host}`);
    // Healthy while its server accepts and no file down-$HOSTNAME exists in the lab dir (the test
    // creates it to fail one).
    await lab.berthOk(["service", "create", "--name", "web", "--replicas", "3", "--network", "app", "--health-cmd", `test ! -e ${lab.dir}/down-$HOSTNAME && bash -c 'exec 3<>/dev/tcp/127.0.0.1/80'`, "--health-interval", "300ms", "--health-retries", "1", "--health-start-period", "20s", "--", ...replicaCmd(lab, 80)]);
    const tasks = await waitTasks(lab, "web", 3, true);
    const vip = (await serviceInspect(lab, "web")).Endpoint.VirtualIPs[0]!.Addr.split("/")[0]!;
    await lab.berthOk(["run", "-d", "--name", "client", "--network", "app", "--", ...SLEEP]);
    const ns = await lab.sandboxNs("client");

    // ---- (1) a failing check ----------------------------------------------------------
    const [w2] = await lab.berthJson<Array<{ Id: string; NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>>(["inspect", "web.2"]);
    const w2ip = w2!.NetworkSettings.Networks["app"]!.IPAddress;
    const results = await connLoop(lab, ns, vip, 6000, "loop-health");
    await new Promise((r) => setTimeout(r, 1500));
    const mark = lab.berthdLog().length;
    writeFileSync(flag(w2!.Id.slice(0, 12)), "down");
    const declared = await logTime(lab, /sandbox web\.2 is unhealthy .*firewall and DNS updated/, "web.2 declared unhealthy", mark);
    const conns = await results();
    rmSync(flag(w2!.Id.slice(0, 12)));
    // Its replacement (slot 2 again, maybe on the same address) may take flows once it has started.
    const log = lab.berthdLog().slice(mark).split("\n");
    const i = log.findIndex((l) => /sandbox web\.2 is unhealthy/.test(l));
    const back = log.slice(i + 1).find((l) => /sandbox web\.2 started/.test(l));
    const replacedAt = back ? Date.parse(back.split(" ")[0]!) : Infinity;
    assert.ok(conns.length >= 100, `at least 100 connections ran: ${conns.length}`);
    const before = conns.filter((c) => c.t < declared);
    const after = conns.filter((c) => c.t > declared);
    assert.ok(before.some((c) => c.local === w2ip), "web.2 took flows before it failed");
    assert.ok(after.length > 20, `connections went on after the declaration: ${after.length}`);
    const late = after.filter((c) => c.local === w2ip && c.t < replacedAt);
    assert.ok(after.filter((c) => c.t < replacedAt).length > 10, "connections ran while web.2 was out");
    const w2log = log.filter((l) => /web\.2|sandbox .* (started|exited)/.test(l)).join("\n");
    assert.equal(late.length, 0, `no connection started after the declaration (${declared}) reached web.2 (${w2ip}) before its replacement started (${replacedAt}): ${late.length} did, first at ${late[0]?.t}, last at ${late.at(-1)?.t}\n${w2log}`);
    const failed = after.filter((c) => !c.ok);
    assert.deepEqual(failed, [], "every connection after the declaration succeeded on another replica");
    // Replaced in slot 2 by a healthy replica.
    await waitFor("web.2 replaced", () => tasksOf(lab, "web"), (ts) => ts.length === 3 && ts.every((t) => /\(healthy\)/.test(t.CurrentState)) && !ts.some((t) => t.ID === tasks.find((x) => x.Name === "web.2")!.ID), 45_000);

    // ---- (2) a killed replica ---------------------------------------------------------
    const [w3] = await lab.berthJson<Array<{ State: { Pid: number } }>>(["inspect", "web.3"]);
    const results2 = await connLoop(lab, ns, vip, 10_000, "loop-kill"); // long enough to span the exit as berthd sees it on a loaded machine
    await new Promise((r) => setTimeout(r, 1000));
    const logLen = lab.berthdLog().length;
    await lab.inHostOk(["kill", "-9", String(w3!.State.Pid)]);
    const exited = await waitFor("berthd saw web.3 exit", async () => /sandbox web\.3 exited/.exec(lab.berthdLog().slice(logLen)) !== null, (x) => x, 20_000);
    assert.ok(exited);
    const exitLine = lab.berthdLog().slice(logLen).split("\n").find((l) => /sandbox web\.3 exited/.test(l))!;
    const exitAt = Date.parse(exitLine.split(" ")[0]!);
    const conns2 = await results2();
    // Until its replacement started (whose file-based check passes before its server listens).
    const log2 = lab.berthdLog().slice(logLen).split("\n");
    const restart = log2.slice(log2.findIndex((l) => /sandbox web\.3 exited/.test(l))).find((l) => /sandbox web\.3 started/.test(l));
    const restartAt = restart ? Date.parse(restart.split(" ")[0]!) : Infinity;
    const afterExit = conns2.filter((c) => c.t > exitAt && c.t < restartAt);
    assert.ok(afterExit.length > 10, `connections went on after the exit: ${afterExit.length}`);
    assert.deepEqual(afterExit.filter((c) => !c.ok), [], "no connection started after the exit was seen failed");
    await waitTasks(lab, "web", 3, true);

    // ---- (3) rolling update, K=4, P=2 -------------------------------------------------
    await lab.berthOk(["service", "scale", "web=4"]);
    const four = await waitTasks(lab, "web", 4, true);
    const oldIds = new Set(four.map((t) => t.ID));
    let minInMap = Infinity;
    let samples = 0;
    let updating = true;
    const sampler = (async () => {
      while (updating) {
        const out = await lab.inHostOk(["nft", "-j", "list", "map", "inet", "berth", "vip-backends"]);
        const els = ((JSON.parse(out) as { nftables: Array<{ map?: { elem?: unknown[] } }> }).nftables.find((o) => o.map)?.map?.elem ?? []) as unknown[];
        const backends = new Set(JSON.stringify(els).match(/"10\.\d+\.\d+\.\d+"|"172\.\d+\.\d+\.\d+"/g)?.filter((a) => a !== `"${vip}"`) ?? []);
        minInMap = Math.min(minInMap, backends.size);
        samples++;
      }
    })();
    const results3 = await connLoop(lab, ns, vip, 4000, "loop-update");
    await lab.berthOk(["service", "update", "web", "-e", "VERSION=2", "--update-parallelism", "2"]);
    updating = false;
    await sampler;
    const conns3 = await results3();
    assert.ok(samples > 3, `the map was sampled during the update (${samples})`);
    assert.ok(minInMap >= 2, `never fewer than K-P=2 replicas in the VIP map (min ${minInMap})`);
    assert.deepEqual(conns3.filter((c) => !c.ok), [], "connections through the VIP kept succeeding during the update");
    const updated = await waitTasks(lab, "web", 4, true);
    assert.ok(updated.every((t) => !oldIds.has(t.ID)), "every replica was replaced");
    for (const t of updated) {
      const [j] = await lab.berthJson<Array<{ Config: { Env: string[] } }>>(["inspect", t.Name]);
      assert.ok(j!.Config.Env.includes("VERSION=2"), `${t.Name} runs the new spec: ${JSON.stringify(j!.Config.Env)}`);
    }
    assert.equal(addrsOn(updated, "app").length, 4);
    assert.ok(!existsSync(flag("x")));
  });
});
