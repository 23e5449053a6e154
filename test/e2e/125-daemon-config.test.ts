// Seed 004 through berthd's configuration file: `{"icc": false}` in daemon.json and a restart
// turn off traffic between sandboxes on the default bridge, while a published port still
// answers from outside; a bad key stops berthd at start with a message naming key and file.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { ipOn } from "./foundation.js";
import { assertReaches, HOST_IP, runServer } from "./publish-helpers.js";

test("daemon.json: icc false isolates the default bridge, published ports still answer; bad keys refuse to start", async () => {
  await withLab("cdk", { startBerthd: false }, async (lab) => {
    const file = join(lab.dir, "daemon.json");
    writeFileSync(file, "{}\n");
    await lab.startBerthd(["--config-file", file]);
    // Baseline: with the default (icc true), two sandboxes on the default bridge reach each other.
    await runServer(lab, "a1", [], [{ proto: "tcp", port: 80 }]);
    await lab.berthOk(["run", "-d", "--name", "b1", "--", "sleep", "600"]);
    assert.ok((await lab.tcpConnect(await lab.sandboxNs("b1"), await ipOn(lab, "a1", "bridge"), 80)).ok, "icc default: b1 reaches a1");

    // Seed 004: add "icc": false to daemon.json and restart the daemon.
    writeFileSync(file, JSON.stringify({ icc: false, dns: ["192.0.2.53"], "dns-search": ["corp.example"] }) + "\n");
    await lab.restartBerthd();
    const opts = (await lab.berthJson<Array<{ Options: Record<string, string> }>>(["network", "inspect", "bridge"]))[0]!.Options;
    assert.equal(opts["com.docker.network.bridge.enable_icc"], "false", JSON.stringify(opts));
    await runServer(lab, "a2", ["-p", "8080:80"], [{ proto: "tcp", port: 80 }]);
    await lab.berthOk(["run", "-d", "--name", "b2", "--", "sleep", "600"]);
    const a2 = await ipOn(lab, "a2", "bridge");
    const blocked = await lab.tcpConnect(await lab.sandboxNs("b2"), a2, 80, { timeoutMs: 1500 });
    assert.equal(blocked.ok, false, `icc false: b2 must not reach a2:80: ${JSON.stringify(blocked)}`);
    await assertReaches(lab, "outside -> a2 via published 8080", lab.outsideNsPath, "tcp", HOST_IP, 8080);
    // dns and dns-search from the file are the defaults of a sandbox that names none.
    const rc = await lab.berthOk(["exec", "b2", "--", "cat", "/etc/resolv.conf"]);
    assert.match(rc, /^nameserver 192\.0\.2\.53$/m, rc);
    assert.match(rc, /^search corp\.example$/m, rc);

    // A flag overrides the file.
    await lab.restartBerthd(["--config-file", file, "--icc=true"]);
    const again = (await lab.berthJson<Array<{ Options: Record<string, string> }>>(["network", "inspect", "bridge"]))[0]!.Options;
    assert.equal(again["com.docker.network.bridge.enable_icc"], "true");

    // An unknown key: berthd refuses to start, exit 1, naming the key and the file.
    await lab.stopBerthd();
    writeFileSync(file, JSON.stringify({ icc: false, "bogus-key": 1 }) + "\n");
    const args = ["--data-root", lab.dataRoot, "--exec-root", lab.execRoot, "--socket", lab.socketPath, "--config-file", file];
    const bad = await lab.inHost([process.execPath, join(lab.repoRoot, "bin", "berthd"), ...args], { timeoutMs: 30_000 });
    assert.equal(bad.code, 1, JSON.stringify(bad));
    assert.equal(bad.stderr.trim(), `berthd: unable to configure the daemon with file ${file}: the following directives don't match any configuration option: bogus-key`);
    writeFileSync(file, JSON.stringify({ icc: "no" }) + "\n");
    const typed = await lab.inHost([process.execPath, join(lab.repoRoot, "bin", "berthd"), ...args], { timeoutMs: 30_000 });
    assert.equal(typed.code, 1);
    assert.equal(typed.stderr.trim(), `berthd: unable to configure the daemon with file ${file}: invalid key icc: expected a boolean, got a string`);
  });
});
