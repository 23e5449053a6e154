// The DNS view is swapped on every change without a gap: a client in a sandbox asks for an
// existing name every 2 ms while 100 sandbox changes (run / rm -f on the same network, through
// the API as `berth run -d` / `berth rm -f` send them) happen; every query must be answered, with
// the right address. Then across a berthd restart: answers come back by themselves.
// The figures (longest unanswered window, slowest answer) are printed for the report.

import assert from "node:assert/strict";
import { test } from "node:test";
import { fixturePath, withLab } from "./lab.js";
import { ipOn, netInspect } from "./foundation.js";
import type { DnsLoopReport } from "./fixtures/dns-loop.js";
import { assertA, dig } from "./names-helpers.js";
import { waitFor } from "./wait.js";

const SLEEP = ["sleep", "600"];
const CHANGES = 100;

test("DNS answers without a gap while 100 sandboxes come and go on the network", async (t) => {
  await withLab("g340", { upstreamDns: true }, async (lab) => {
    await lab.berthOk(["network", "create", "gap-net"]);
    const gw = (await netInspect(lab, "gap-net")).IPAM.Config[0]!.Gateway!;
    await lab.berthOk(["run", "-d", "--name", "anchor", "--network", "gap-net", "--network-alias", "stable", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "asker", "--network", "gap-net", "--", ...SLEEP]);
    const anchorIp = await ipOn(lab, "anchor", "gap-net");
    assertA(await dig(lab, "asker", gw, "stable"), [anchorIp], "stable before the churn");

    // The gateway's MAC (the bridge's) must not change as ports come and go: the kernel would
    // otherwise give the bridge its lowest port MAC, and sandboxes' ARP entries for the gateway
    // would point at a veth for seconds (that was a real gap of up to 25 s).
    const bridgeMac = async (): Promise<string> => {
      const links = JSON.parse(await lab.inHostOk(["ip", "-j", "addr", "show"])) as Array<{ ifname: string; address: string; addr_info: Array<{ local: string }> }>;
      const br = links.find((l) => l.addr_info.some((a) => a.local === gw));
      assert.ok(br, `no interface holds ${gw} in the host namespace`);
      return br.address;
    };
    const macBefore = await bridgeMac();

    const loop = await lab.spawnIn(await lab.sandboxNs("asker"), [process.execPath, fixturePath("dns-loop"), gw, "stable", "--expect", anchorIp, "--interval", "2", "--timeout", "1000"], {
      name: "dns-loop",
      readyPattern: /^ready$/m,
    });

    // 100 changes: run churn-i, and from the second on remove churn-(i-1), alternating.
    const t0 = Date.now();
    let changes = 0;
    const alive: string[] = [];
    for (let i = 0; changes < CHANGES; i++) {
      const name = `churn-${i}`;
      // Through the API (what `berth run -d` / `berth rm -f` send): the CLI's start-up time would
      // only stretch the test on a busy machine.
      const c = await lab.api("POST", `/containers/create?name=${name}`, {
        Cmd: SLEEP,
        HostConfig: { NetworkMode: "gap-net" },
        NetworkingConfig: { EndpointsConfig: { "gap-net": { Aliases: ["churn"] } } },
      });
      assert.equal(c.status, 201, `create ${name}: ${c.text}`);
      const st = await lab.api("POST", `/containers/${name}/start`);
      assert.equal(st.status, 204, `start ${name}: ${st.text}`);
      alive.push(name);
      changes++;
      if (alive.length > 1 && changes < CHANGES) {
        const victim = alive.shift()!;
        const d = await lab.api("DELETE", `/containers/${victim}?force=1`);
        assert.equal(d.status, 204, `rm -f ${victim}: ${d.text}`);
        changes++;
      }
    }
    const churnMs = Date.now() - t0;

    await loop.stop("SIGTERM", 5000);
    const line = loop.log().trim().split("\n").pop() ?? "";
    let rep: DnsLoopReport;
    try {
      rep = JSON.parse(line) as DnsLoopReport;
    } catch {
      throw new Error(`dns-loop gave no report:\n${loop.log()}`);
    }
    assert.equal(await bridgeMac(), macBefore, "the gateway's MAC changed during the churn");
    const summary = `${CHANGES} changes in ${churnMs} ms; ${JSON.stringify(rep)}`;
    t.diagnostic(summary);
    process.stdout.write(`# 340 dns reload gap: ${summary}\n`);

    assert.ok(rep.sent >= CHANGES * 5, `the loop asked enough (${rep.sent} queries): ${summary}`);
    assert.equal(rep.lost, 0, `unanswered queries during the churn: ${summary}`);
    assert.equal(rep.bad, 0, `wrong answers during the churn: ${summary}`);
    assert.equal(rep.good, rep.sent, summary);

    // The state after the churn is right: the alias has the ones left, the removed ones are gone.
    const left = await Promise.all(alive.map((n) => ipOn(lab, n, "gap-net")));
    const members = Object.values((await netInspect(lab, "gap-net")).Containers).map((c) => `${c.Name}=${c.IPv4Address}`);
    const ps = (await lab.berthOk(["ps", "-a"])) + lab.berthdLog().split("\n").filter((l) => /\b(warn|error)\b/.test(l)).slice(-20).join("\n");
    assertA(await dig(lab, "asker", gw, "churn"), left, `churn alias = the ones left (${alive}); gap-net has ${members}; ps -a:\n${ps}`);
    const gone = await dig(lab, "asker", gw, "churn-0");
    assert.equal(gone.status, "NXDOMAIN", `a removed sandbox's name is gone: ${gone.status} ${gone.answers}`);

    // A berthd restart cannot be gapless (the server is in berthd), but answers must come back
    // by themselves, from the same state; the window is reported.
    const loop2 = await lab.spawnIn(await lab.sandboxNs("asker"), [process.execPath, fixturePath("dns-loop"), gw, "stable", "--expect", anchorIp, "--interval", "5", "--timeout", "1000"], {
      name: "dns-loop-restart",
      readyPattern: /^ready$/m,
    });
    await new Promise((r) => setTimeout(r, 300));
    const r0 = Date.now();
    await lab.restartBerthd();
    const restartMs = Date.now() - r0;
    // Until answers come back, then one more second of answers.
    await waitFor("the embedded DNS to answer again after the restart", async () => (await lab.dnsQuery(await lab.sandboxNs("asker"), gw, "stable", { timeoutMs: 500 })).answers?.length === 1);
    await new Promise((r) => setTimeout(r, 1000));
    await loop2.stop("SIGTERM", 5000);
    const rep2 = JSON.parse(loop2.log().trim().split("\n").pop() ?? "{}") as DnsLoopReport;
    const summary2 = `berthd restart took ${restartMs} ms; ${JSON.stringify({ ...rep2, runs: rep2.runs?.slice(0, 10) })}`;
    t.diagnostic(summary2);
    process.stdout.write(`# 340 dns across a berthd restart: ${summary2}\n`);
    assert.equal(rep2.bad, 0, `wrong answers across the restart: ${summary2}`);
    assert.equal(rep2.runs.at(-1)?.[0], "good", `answers came back after the restart: ${summary2}`);
    assertA(await dig(lab, "asker", gw, "churn"), left, "churn alias after the restart");
  });
});
