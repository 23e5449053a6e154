// The DNS view is swapped on every change without a gap: a client in a sandbox asks for an
// existing name every 5 ms while 100 sandbox changes (berth run / berth rm on the same network,
// through the CLI) happen; every query must be answered, with the right address.
// The figures (longest unanswered window, slowest answer) are printed for the report.

import assert from "node:assert/strict";
import { test } from "node:test";
import { fixturePath, withLab } from "./lab.js";
import { ipOn, netInspect } from "./foundation.js";
import type { DnsLoopReport } from "./fixtures/dns-loop.js";
import { assertA, dig } from "./names-helpers.js";

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

    const loop = await lab.spawnIn(await lab.sandboxNs("asker"), [process.execPath, fixturePath("dns-loop"), gw, "stable", "--expect", anchorIp, "--interval", "5", "--timeout", "1000"], {
      name: "dns-loop",
      readyPattern: /^ready$/m,
    });

    // 100 changes: run churn-i, and from the second on remove churn-(i-1), alternating.
    const t0 = Date.now();
    let changes = 0;
    const alive: string[] = [];
    for (let i = 0; changes < CHANGES; i++) {
      const name = `churn-${i}`;
      await lab.berthOk(["run", "-d", "--name", name, "--network", "gap-net", "--network-alias", "churn", "--", ...SLEEP]);
      alive.push(name);
      changes++;
      if (alive.length > 1 && changes < CHANGES) {
        await lab.berthOk(["rm", "-f", alive.shift()!]);
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

    assert.ok(rep.sent > 1000, `the loop asked enough (${rep.sent} queries): ${summary}`);
    assert.equal(rep.lost, 0, `unanswered queries during the churn: ${summary}`);
    assert.equal(rep.bad, 0, `wrong answers during the churn: ${summary}`);
    assert.equal(rep.good, rep.sent, summary);

    // The state after the churn is right: the alias has the ones left, the removed ones are gone.
    const left = await Promise.all(alive.map((n) => ipOn(lab, n, "gap-net")));
    assertA(await dig(lab, "asker", gw, "churn"), left, `churn alias = the ones left (${alive})`);
    const gone = await dig(lab, "asker", gw, "churn-0");
    assert.equal(gone.status, "NXDOMAIN", `a removed sandbox's name is gone: ${gone.status} ${gone.answers}`);
  });
});
