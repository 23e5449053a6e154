// A removed sandbox's address and published port: once `rm -f` has returned they answer no one,
// and a new sandbox given the same address and host port gets them only after the kernel has
// dropped the old sandbox's firewall elements. The order is read from the kernel's own stream of
// ruleset changes (`nft monitor` in the lab's host namespace), over several remove/re-run rounds
// done back to back, so a removal acknowledged before its elements were gone, or an element
// added for the new sandbox while the old one's was still there, fails the test.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { assertBlocked, assertReaches, HOST_IP, runServer } from "./publish-helpers.js";
import { sleep } from "./lab-exec.js";

const IP = "10.77.0.10";
const PORT = 8090;
const ROUNDS = 4;

/** Element events for the keys that name IP or the published port, in the kernel's order. */
function elementEvents(log: string): Array<{ verb: "add" | "delete"; set: string; key: string }> {
  const out: Array<{ verb: "add" | "delete"; set: string; key: string }> = [];
  for (const line of log.split("\n")) {
    const m = /^(add|delete) element inet berth (\S+) \{ (.*) \}$/.exec(line.trim());
    if (!m) continue;
    // One event may carry several elements: "k1 : v1 comment "..", k2 ...". Keys only matter here.
    for (const el of m[3]!.split(/,\s(?=[a-z0-9])/)) {
      const key = el.replace(/ comment ".*$/, "").split(" : ")[0]!.trim();
      if (key.includes(IP) || new RegExp(`\\b${PORT}\\b`).test(key)) out.push({ verb: m[1] as "add" | "delete", set: m[2]!, key });
    }
  }
  return out;
}

test("removal: a removed sandbox's address and port answer no one, and are reused only after its firewall elements are gone", async () => {
  await withLab("pp", {}, async (lab) => {
    const monitor = await lab.spawnIn(lab.hostNsPath, ["nft", "monitor", "ruleset"], { name: "nft-monitor" });
    await lab.berthOk(["network", "create", "--subnet", "10.77.0.0/24", "ppnet"]);
    // The monitor is listening once it has seen the new network's elements.
    for (let i = 0; !/add element inet berth bridges/.test(monitor.log()); i++) {
      assert.ok(i < 200, `nft monitor saw no change in 20 s:\n${monitor.log()}`);
      await sleep(100);
    }

    const flags = ["--network", "ppnet", "--ip", IP, "-p", `${PORT}:80`];
    for (let r = 0; r < ROUNDS; r++) {
      const name = `s${r}`;
      await runServer(lab, name, flags, [{ proto: "http", port: 80 }]);
      await assertReaches(lab, `outside -> ${name} via ${PORT}`, lab.outsideNsPath, "http", HOST_IP, PORT);
      const hits = join(lab.dir, `sb-${name}-http-80.hits`);
      assert.ok(readFileSync(hits, "utf8").trim().length > 0, `${name} itself answered on ${PORT}`);
      await lab.berthOk(["rm", "-f", name]);
      // Acknowledged: nothing of it answers any more, and none of its elements is left.
      const table = await lab.inHostOk(["nft", "list", "table", "inet", "berth"]);
      assert.ok(!table.includes(IP), `${name} removed, but its address is still in berth's table:\n${table}`);
      assert.ok(!new RegExp(`\\b${PORT}\\b`).test(table), `${name} removed, but its port is still in berth's table:\n${table}`);
      await assertBlocked(lab, `outside -> removed ${name} via ${PORT}`, lab.outsideNsPath, "http", HOST_IP, PORT);
      await assertBlocked(lab, `host -> removed ${name} at ${IP}`, lab.hostNsPath, "http", IP, 80);
    }

    // The kernel's order: per key, adds and deletes alternate and start with an add, so no
    // sandbox's element was added while the previous one's with the same key was still there.
    await sleep(300); // the monitor's last lines
    const events = elementEvents(monitor.log());
    const byKey = new Map<string, string[]>();
    for (const e of events) byKey.set(`${e.set} ${e.key}`, [...(byKey.get(`${e.set} ${e.key}`) ?? []), e.verb]);
    assert.ok(byKey.size >= 3, `expected the published port, its target and the hairpin of ${IP} in the monitor's stream, got:\n${[...byKey.keys()].join("\n")}`);
    for (const [key, verbs] of byKey) {
      assert.equal(verbs.length, 2 * ROUNDS, `${key}: one add and one delete per round, got ${verbs.join(", ")}`);
      verbs.forEach((v, i) => assert.equal(v, i % 2 === 0 ? "add" : "delete", `${key}: event ${i + 1} is ${v} (${verbs.join(", ")})`));
    }
    await monitor.stop();
  });
});
