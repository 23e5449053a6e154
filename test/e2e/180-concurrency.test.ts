// Concurrency: 20 `berth run -d` at once on one network get 20 distinct addresses and are all
// reachable; 20 `rm -f` at once leave nothing behind. Also measures (prints, does not assert)
// how long `berth run -d` and the daemon's start take.

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { berthLinks, inspect, median, netInspect, psJson } from "./foundation.js";

const N = 20;

test("20 concurrent runs on one network: distinct addresses, all reachable; 20 concurrent removals", async () => {
  await withLab("cc", {}, async (lab) => {
    await lab.berthOk(["network", "create", "conc"]);
    await lab.berthOk(["run", "-d", "--name", "probe", "--network", "conc", "--", "sleep", "600"]);
    const names = Array.from({ length: N }, (_, i) => `k${i}`);
    const runs = await Promise.all(names.map((n) => lab.berth(["run", "-d", "--name", n, "--network", "conc", "--", "sleep", "600"], { timeoutMs: 60_000 })));
    runs.forEach((r, i) => assert.equal(r.code, 0, `run ${names[i]}: ${r.stderr}`));

    const ips = await Promise.all(names.map(async (n) => (await inspect(lab, n)).NetworkSettings.Networks["conc"]?.IPAddress ?? ""));
    for (const ip of ips) assert.match(ip, /^172\.18\.\d+\.\d+$/);
    assert.equal(new Set(ips).size, N, `addresses are not distinct: ${ips.join(" ")}`);
    assert.ok(!ips.includes("172.18.0.1") && !ips.includes("172.18.0.2"), "gateway or probe's address handed out again");
    const net = await netInspect(lab, "conc");
    assert.equal(Object.keys(net.Containers).length, N + 1);
    // Every sandbox has its own host veth.
    assert.equal((await berthLinks(lab)).filter((l) => l.startsWith("bv")).length, N + 1);

    // All reachable: the probe pings each, and each reaches the probe over TCP-free ping too.
    const probeNs = await lab.sandboxNs("probe");
    const fromProbe = await Promise.all(ips.map(async (ip) => ((await lab.ping(probeNs, ip)) ? "" : ip)));
    assert.deepEqual(fromProbe.filter(Boolean), [], "probe does not reach");
    const toProbe = await Promise.all(
      names.map(async (n) => ((await lab.ping(await lab.sandboxNs(n), "172.18.0.2")) ? "" : n)),
    );
    assert.deepEqual(toProbe.filter(Boolean), [], "do not reach the probe");

    // 20 removals at once: everything of them goes.
    const rms = await Promise.all(names.map((n) => lab.berth(["rm", "-f", n], { timeoutMs: 60_000 })));
    rms.forEach((r, i) => assert.equal(r.code, 0, `rm -f ${names[i]}: ${r.stderr}`));
    assert.deepEqual(psJson(await lab.berthOk(["ps", "-a", "--format", "json"])).map((s) => s["Names"]), ["probe"]);
    assert.equal((await berthLinks(lab)).filter((l) => l.startsWith("bv")).length, 1);
    assert.equal(readdirSync(join(lab.execRoot, "netns")).length, 1);
    assert.deepEqual(Object.keys((await netInspect(lab, "conc")).Containers).length, 1);
  });
});

test("timing: berth run -d end to end, and POST /containers/{id}/start (medians of 20)", async (t) => {
  await withLab("tm", {}, async (lab) => {
    // Warm up once (first node start, caches).
    await lab.berthOk(["run", "-d", "--rm", "--name", "warm", "--", "sleep", "600"]);
    await lab.berthOk(["rm", "-f", "warm"]);

    const runMs: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      await lab.berthOk(["run", "-d", "--name", `r${i}`, "--", "sleep", "600"]);
      runMs.push(performance.now() - t0);
    }
    const startMs: number[] = [];
    for (let i = 0; i < N; i++) {
      const c = await lab.api("POST", `/containers/create?name=s${i}`, { Cmd: ["sleep", "600"], HostConfig: { NetworkMode: "bridge" } });
      assert.equal(c.status, 201, c.text);
      const id = c.json<{ Id: string }>().Id;
      const t0 = performance.now();
      const s = await lab.api("POST", `/containers/${id}/start`);
      startMs.push(performance.now() - t0);
      assert.equal(s.status, 204, s.text);
    }
    // Everything started really runs on the bridge.
    const ps = psJson(await lab.berthOk(["ps", "--format", "json"]));
    assert.equal(ps.length, 2 * N);
    const fmt = (xs: number[]) => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
    const line1 = `berth run -d (CLI process, create + start, sequential, default bridge): ${fmt(runMs)}`;
    const line2 = `POST /containers/{id}/start via the socket (network setup + launch): ${fmt(startMs)}`;
    t.diagnostic(line1);
    t.diagnostic(line2);
    await lab.berthOk(["rm", "-f", ...ps.map((s) => s["Names"]!)], { timeoutMs: 180_000 }); // 40 removals, each durable: minutes on a loaded machine
  });
});
