// S19 through berthd and the CLI: a host whose iptables FORWARD policy is DROP (as ufw or Docker
// leave it), or with another nft table whose forward chain drops, still forwards berth's
// traffic (outbound and published), berthd says so in its log, and the other firewall's
// policy is left as it was. With berthd stopped, removing berth's inserted rule breaks berth's
// traffic (so the test can fail); berthd's start puts it back. While berthd runs, a drop that
// appears is found through nft monitor without any berth command (245 covers more of that).

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Lab, OUTSIDE_IP, withLab } from "./lab.js";
import { sleep } from "./lab-exec.js";
import { HOST_IP, reachAll, runServer } from "./publish-helpers.js";

const c1Ns: Record<string, string> = {};

/** "out:yes pub:yes": c1 -> outside server, and outside -> hostIP:8080 (c1). */
async function traffic(lab: Lab, srvPort: number): Promise<string> {
  // c1's namespace, asked for while berthd runs (some checks run with berthd stopped).
  const ns = (c1Ns[lab.name] ??= await lab.sandboxNs("c1"));
  const [o] = await reachAll(lab, ns, [{ ip: OUTSIDE_IP, port: srvPort }]);
  const [p] = await reachAll(lab, lab.outsideNsPath, [{ ip: HOST_IP, port: 8080 }]);
  return `out:${o!.ok ? "yes" : "no"} pub:${p!.ok ? "yes" : "no"}`;
}

test("S19 foreign DROP: iptables FORWARD policy DROP and an nft drop chain still forward berth's traffic; logged", async () => {
  await withLab("p260", { startBerthd: false }, async (lab) => {
    await lab.inHostOk(["iptables", "-P", "FORWARD", "DROP"]);
    await lab.startBerthd();
    const srv = await lab.outsideServer({ proto: "tcp", port: 9000 });
    await runServer(lab, "c1", ["-p", "8080:80"], [{ proto: "tcp", port: 80 }]);

    assert.equal(await traffic(lab, srv.port), "out:yes pub:yes", "berth's traffic passes despite FORWARD policy DROP");
    assert.match(lab.berthdLog(), /iptables FORWARD drops forwarded traffic: inserted/, "berthd says what it did");
    const fwd = await lab.inHostOk(["iptables", "-S", "FORWARD"]);
    assert.match(fwd, /^-P FORWARD DROP$/m, `the policy is left as it was:\n${fwd}`);
    const lines = fwd.trim().split("\n");
    assert.match(lines[1] ?? "", /--mark 0x800000\/0x800000 .*berth: accept traffic that berth accepted.* -j ACCEPT/, `berth's rule is first:\n${fwd}`);
    assert.equal(lines.length, 2, `exactly one rule added:\n${fwd}`);
    assert.match(await lab.berthOk(["rules"]), /berth: accept traffic that berth accepted/, "berth rules lists the rule it inserted elsewhere");

    // Without berth's rule the DROP policy wins: the test can fail. (berthd is stopped: while it
    // runs it would put the rule back at once.)
    await lab.stopBerthd();
    await lab.inHostOk(["iptables", "-D", "FORWARD", ...lines[1]!.replace(/^-A FORWARD /, "").match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, ""))]);
    assert.equal(await traffic(lab, srv.port), "out:no pub:no", "with the rule deleted FORWARD DROP drops berth's traffic");
    await lab.startBerthd();
    assert.equal(await traffic(lab, srv.port), "out:yes pub:yes", "berthd's start inserts the rule again");
    assert.equal((await lab.inHostOk(["iptables", "-S", "FORWARD"])).trim().split("\n").length, 2, "still exactly one rule after the restart");

    // Another nft table whose forward chain drops by policy.
    await lab.stopBerthd();
    await lab.inHostOk(["nft", "-f", "-"], { input: "table inet other {\n chain fdrop {\n type filter hook forward priority 0; policy drop;\n }\n}\n" });
    assert.equal(await traffic(lab, srv.port), "out:no pub:no", "the other table drops berth's traffic until berth knows of it");
    await lab.startBerthd();
    assert.equal(await traffic(lab, srv.port), "out:yes pub:yes", "after berthd's start the other table lets berth's traffic through");
    assert.match(lab.berthdLog(), /nft chain inet other fdrop drops forwarded traffic: inserted/, "berthd says so for the nft table too");
    const other = await lab.inHostOk(["nft", "list", "chain", "inet", "other", "fdrop"]);
    assert.match(other, /policy drop;/, `the other chain keeps its policy:\n${other}`);
    assert.match(other, /meta mark & 0x00800000 == 0x00800000 accept comment "berth: accept traffic that berth accepted"/, other);

    // A drop policy that appears while berthd runs is found at once (nft monitor), no berth command.
    const mark = lab.berthdLog().length;
    await lab.inHostOk(["nft", "-f", "-"], { input: "table inet late {\n chain ldrop {\n type filter hook forward priority 5; policy drop;\n }\n}\n" });
    for (const t0 = Date.now(); !/nft chain inet late ldrop drops forwarded traffic: inserted/.test(lab.berthdLog().slice(mark)); await sleep(100)) {
      assert.ok(Date.now() - t0 < 10_000, "berthd says within 10 s that it put its rule into the late table");
    }
    assert.equal(await traffic(lab, srv.port), "out:yes pub:yes", "berth's accept rule is in the late table too");

    // A sandbox started afterwards works too (no per-sandbox rule is needed in other firewalls).
    await lab.berthOk(["rm", "-f", "c1"]);
    delete c1Ns[lab.name];
    await runServer(lab, "c1", ["-p", "8080:80"], [{ proto: "tcp", port: 80 }]);
    assert.equal(await traffic(lab, srv.port), "out:yes pub:yes", "a new sandbox's traffic passes both firewalls");
  });
});
