// S18 through berthd and the CLI: `berthd --firewall=none` installs no rules at all and still
// tracks port allocations (`berth port`, conflicts), so a user can write their own rules. A
// restart from nftables to none removes berth's chains and sets and keeps the user's chain.

import assert from "node:assert/strict";
import { test } from "node:test";
import { OUTSIDE_IP, withLab } from "./lab.js";
import { ipOn } from "./foundation.js";
import { assertBlocked, assertReaches, berthTable, ephemeralRange, HOST_IP, hostPortOf, portLines, runServer } from "./publish-helpers.js";

test("S18 --firewall=none: no rules, ports still allocated and reported, user rules work; nftables -> none", async () => {
  await withLab("p250", { berthdArgs: ["--firewall=none"] }, async (lab) => {
    const out = lab.outsideNsPath;
    await runServer(lab, "c1", ["-p", "8080:80"], [{ proto: "http", port: 80 }]);
    await runServer(lab, "c2", ["-P", "--expose", "7000"], [{ proto: "tcp", port: 7000 }]);
    await lab.berthOk(["network", "create", "net2"]);
    await runServer(lab, "c3", ["--network", "net2", "-p", "8082:53/udp"], [{ proto: "udp", port: 53 }]);

    // No rules at all in berthd's namespace.
    assert.equal(await berthTable(lab), undefined, "table inet berth must not exist");
    const ruleset = await lab.inHostOk(["nft", "list", "ruleset"]);
    assert.equal(ruleset.trim(), "", `no nftables rules at all:\n${ruleset}`);
    const ipt = await lab.inHost(["iptables", "-S"]);
    if (ipt.code === 0) assert.equal(ipt.stdout.trim().split("\n").filter((l) => !/^-P \w+ ACCEPT$/.test(l)).join("\n"), "", `no iptables rules:\n${ipt.stdout}`);
    assert.equal((await lab.inHostOk(["sysctl", "-n", "net.ipv4.ip_forward"])).trim(), "1", "ip_forward is still set");
    const rules = await lab.berth(["rules"]);
    assert.equal(rules.code, 0, rules.stderr);
    assert.doesNotMatch(rules.stdout, /chain filter-forward|dnat/, rules.stdout);

    // Allocations are tracked and reported as usual.
    assert.deepEqual(await portLines(lab, "c1"), ["80/tcp -> 0.0.0.0:8080"]);
    assert.deepEqual(await portLines(lab, "c3"), ["53/udp -> 0.0.0.0:8082"]);
    const [lo, hi] = await ephemeralRange(lab);
    const c2 = await hostPortOf(lab, "c2", "7000");
    assert.ok(c2.port >= lo && c2.port <= hi, `-P still takes an ephemeral port: ${c2.port}`);
    const dup = await lab.berth(["run", "-d", "--name", "dup", "-p", "8080:80", "--", "sleep", "600"]);
    assert.notEqual(dup.code, 0, "a taken host port is still refused");
    assert.match(dup.stderr, /8080.*already allocated/, dup.stderr);

    // Without rules nothing is published: no DNAT and no proxy process.
    await assertBlocked(lab, "outside -> 8080 with --firewall=none", out, "http", HOST_IP, 8080);
    await assertBlocked(lab, "host 127.0.0.1:8080 with --firewall=none", lab.hostNsPath, "http", "127.0.0.1", 8080);

    // The user writes their own rule from `berth port` and the sandbox address.
    const c1ip = await ipOn(lab, "c1", "bridge");
    const hp = await hostPortOf(lab, "c1", "80");
    await lab.inHostOk(["nft", "-f", "-"], { input: `table ip mine {\n chain pre {\n type nat hook prerouting priority dstnat;\n tcp dport ${hp.port} dnat to ${c1ip}:80\n }\n}\n` });
    await assertReaches(lab, "outside -> 8080 through the user's own DNAT", out, "http", HOST_IP, hp.port, OUTSIDE_IP);
    assert.equal(await berthTable(lab), undefined, "berth still has no table");
    await lab.inHostOk(["nft", "delete", "table", "ip", "mine"]);

    // nftables -> none: berth's chains and sets go, the user's chain stays (inert).
    await lab.restartBerthd(["--firewall=nftables"]);
    await assertReaches(lab, "outside -> 8080 with the nftables firewall", out, "http", HOST_IP, 8080, OUTSIDE_IP);
    await lab.inHostOk(["nft", "add", "rule", "inet", "berth", "user-forward", "ip", "saddr", "10.20.30.13", "drop", "comment", "mine"]);
    await lab.restartBerthd(["--firewall=none"]);
    const table = await berthTable(lab);
    const chains = (table ?? []).filter((o) => "chain" in o).map((o) => (o["chain"] as { name: string }).name);
    const sets = (table ?? []).filter((o) => "set" in o || "map" in o);
    assert.deepEqual(chains, ["user-forward"], "only the user's chain is left");
    assert.equal(sets.length, 0, "no berth sets or maps are left");
    assert.match(await lab.inHostOk(["nft", "list", "chain", "inet", "berth", "user-forward"]), /comment "mine"/);
    await assertBlocked(lab, "outside -> 8080 after switching to --firewall=none", out, "http", HOST_IP, 8080);
    assert.deepEqual(await portLines(lab, "c1"), ["80/tcp -> 0.0.0.0:8080"], "berth port is unchanged across the switch");
  });
});
