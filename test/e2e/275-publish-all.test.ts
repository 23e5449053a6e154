// -P at scale through berthd and the CLI: `berth run -d -P --expose 10000-11999` publishes all
// 2,000 exposed ports on distinct host ports, both ends of the range answer from the outside,
// and a second sandbox with -P gets none of the first one's ports. A range too big is refused
// with a clear error and creates nothing. (The time it takes and the DNS latency meanwhile are
// measured by `npm run bench -- --only pall`, not asserted here.)

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { assertReaches, HOST_IP, hostPortOf, portLines, runServer } from "./publish-helpers.js";

test("S-P -P with 2,000 exposed ports: all published on distinct ports and reachable; too big a range refused", async () => {
  await withLab("p275", {}, async (lab) => {
    await runServer(lab, "many", ["-P", "--expose", "10000-11999"], [
      { proto: "tcp", port: 10000 },
      { proto: "tcp", port: 11999 },
    ]);
    const lines = await portLines(lab, "many");
    assert.equal(lines.length, 2000, `berth port lists every exposed port (${lines.length})`);
    const hostPorts = lines.map((l) => Number(/:(\d+)$/.exec(l)?.[1]));
    assert.equal(new Set(hostPorts).size, 2000, "no host port twice");
    for (const c of ["10000", "11999"]) {
      const hp = await hostPortOf(lab, "many", c);
      await assertReaches(lab, `-P port for ${c}`, lab.outsideNsPath, "tcp", HOST_IP, hp.port);
    }

    await runServer(lab, "more", ["-P", "--expose", "10000-10099"], [{ proto: "tcp", port: 10000 }]);
    const more = (await portLines(lab, "more")).map((l) => Number(/:(\d+)$/.exec(l)?.[1]));
    assert.equal(more.length, 100);
    assert.ok(more.every((p) => !hostPorts.includes(p)), "the second sandbox's ports are all free ones");
    await assertReaches(lab, "second sandbox", lab.outsideNsPath, "tcp", HOST_IP, (await hostPortOf(lab, "more", "10000")).port);

    const before = await lab.berthOk(["ps", "-a", "-q"]);
    const r = await lab.berth(["run", "-d", "--name", "huge", "-P", "--expose", "1-65535", "--", "sleep", "60"]);
    assert.notEqual(r.code, 0, "berth run with --expose 1-65535 fails");
    assert.match(r.stderr, /invalid range format for --expose: 1-65535, error: a range may hold at most 10000 ports, 1-65535 holds 65535/);
    const p = await lab.berth(["run", "-d", "--name", "huge", "-p", "1-20000:1-20000", "--", "sleep", "60"]);
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, /Invalid containerPort: 1-20000: a range may hold at most 10000 ports/);
    assert.equal(await lab.berthOk(["ps", "-a", "-q"]), before, "nothing was created");
  });
});
