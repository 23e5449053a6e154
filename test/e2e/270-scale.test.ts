// Scale of publishing through berthd: 1,000 published ports (one sandbox with
// -p 20000-20999:20000-20999) leave the number of nftables rules exactly as with 1 port (the
// ports are set/map elements), ports of the range answer from the outside, and the time to
// start a sandbox with one -p stays small. Prints, for the report: the rule counts, and the
// daemon-side cost of publishing one port = median over 20 of
// (POST /containers/{id}/start with one -p) - (the same without), with 1 and with 1,000 ports
// already published.

import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { OUTSIDE_IP, type Lab, withLab } from "./lab.js";
import { median } from "./foundation.js";
import { assertReaches, berthTable, HOST_IP, ruleCount, runServer } from "./publish-helpers.js";

const ROUNDS = 20;

async function elementsIn(lab: Lab, name: string): Promise<number> {
  for (const o of (await berthTable(lab)) ?? []) {
    const s = (o["map"] ?? o["set"]) as { name: string; elem?: unknown[] } | undefined;
    if (s?.name === name) return s.elem?.length ?? 0;
  }
  throw new Error(`no set or map ${name} in table inet berth`);
}

/** ms of POST /containers/{id}/start for a fresh `sleep` sandbox, with or without `-p PORT:80`. */
async function timedStart(lab: Lab, i: number, hostPort: number | undefined): Promise<number> {
  const body = {
    Cmd: ["sleep", "600"],
    ExposedPorts: hostPort ? { "80/tcp": {} } : {},
    HostConfig: { NetworkMode: "bridge", PortBindings: hostPort ? { "80/tcp": [{ HostIp: "", HostPort: String(hostPort) }] } : {} },
  };
  const c = await lab.api("POST", `/containers/create?name=t${i}${hostPort ? "p" : "n"}`, body);
  assert.equal(c.status, 201, c.text);
  const id = c.json<{ Id: string }>().Id;
  const t0 = process.hrtime.bigint();
  const s = await lab.api("POST", `/containers/${id}/start`);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(s.status, 204, s.text);
  const d = await lab.api("DELETE", `/containers/${id}?force=1`);
  assert.equal(d.status, 204, d.text);
  return ms;
}

/** Median (with -p) - median (without), 20 interleaved pairs; also both medians. */
async function publishCost(lab: Lab, base: number): Promise<{ withP: number; without: number; cost: number }> {
  const withP: number[] = [];
  const without: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    without.push(await timedStart(lab, base + i, undefined));
    withP.push(await timedStart(lab, base + i, 31000 + i));
  }
  const w = median(withP);
  const wo = median(without);
  return { withP: w, without: wo, cost: w - wo };
}

test("scale: 1,000 published ports keep the rule count; time to publish one port (median of 20)", async (t: TestContext) => {
  await withLab("p270", {}, async (lab) => {
    await runServer(lab, "one", ["-p", "8080:80"], [{ proto: "tcp", port: 80 }]);
    const rules1 = await ruleCount(lab);
    assert.ok(rules1 > 0, "berth's table has rules");
    assert.equal(await elementsIn(lab, "published-any"), 1);
    const at1 = await publishCost(lab, 0);

    const t0 = Date.now();
    await runServer(lab, "big", ["-p", "20000-20999:20000-20999"], [20000, 20500, 20999].map((port) => ({ proto: "tcp" as const, port })));
    const bigMs = Date.now() - t0;
    const lines = (await lab.berthOk(["port", "big"])).trim().split("\n");
    assert.equal(lines.length, 1000, "berth port lists 1,000 mappings");
    assert.ok(lines.includes("20500/tcp -> 0.0.0.0:20500"), lines.slice(0, 3).join("\n"));
    const rules1000 = await ruleCount(lab);
    assert.equal(await elementsIn(lab, "published-any"), 1001, "1,001 published ports are 1,001 map elements");
    assert.equal(rules1000, rules1, "the rule count does not grow with published ports");
    for (const port of [20000, 20500, 20999]) await assertReaches(lab, `outside -> ${port} of the range`, lab.outsideNsPath, "tcp", HOST_IP, port, OUTSIDE_IP);
    await assertReaches(lab, "outside -> 8080 still", lab.outsideNsPath, "tcp", HOST_IP, 8080, OUTSIDE_IP);

    const at1000 = await publishCost(lab, 100);
    assert.equal(await ruleCount(lab), rules1, "the rule count is the same after 40 more starts and removals");
    assert.equal(await elementsIn(lab, "published-any"), 1001, "removed sandboxes left no elements");
    // What a user would notice: starting a sandbox with -p among 1,000 published ports is quick.
    assert.ok(at1000.withP < 2000, `start with -p among 1,000 published ports took ${at1000.withP.toFixed(1)} ms (median)`);

    await lab.berthOk(["rm", "-f", "big"]);
    assert.equal(await elementsIn(lab, "published-any"), 1, "removing the sandbox removes its 1,000 elements");
    assert.equal(await ruleCount(lab), rules1);

    const report = [
      `nftables rules in table inet berth: ${rules1} with 1 published port, ${rules1000} with 1,001`,
      `berth run of one sandbox with -p 20000-20999:20000-20999 (until listening): ${bigMs} ms`,
      `POST /start median of ${ROUNDS}, 1 port published:     with -p ${at1.withP.toFixed(1)} ms, without ${at1.without.toFixed(1)} ms, publish cost ${at1.cost.toFixed(1)} ms`,
      `POST /start median of ${ROUNDS}, 1,001 ports published: with -p ${at1000.withP.toFixed(1)} ms, without ${at1000.without.toFixed(1)} ms, publish cost ${at1000.cost.toFixed(1)} ms`,
    ];
    for (const l of report) {
      t.diagnostic(l);
      console.log(`# 270-scale: ${l}`);
    }
  });
});
