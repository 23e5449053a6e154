// berth's CLI as a docker user types it: inspect -f with a Go template gives the live PID (the
// process is in the sandbox's network namespace), ps and network ls --format, usage errors.

import assert from "node:assert/strict";
import { readlinkSync, statSync } from "node:fs";
import { test } from "node:test";
import { withLab } from "./lab.js";

test("CLI --format (Go templates) and Docker-worded usage errors", async () => {
  await withLab("cdk", {}, async (lab) => {
    await lab.berthOk(["network", "create", "--subnet", "10.77.0.0/24", "fmt-net"]);
    await lab.berthOk(["run", "-d", "--name", "web", "--network", "fmt-net", "--label", "tier=front", "--", "sleep", "600"]);
    await lab.berthOk(["run", "-d", "--name", "db", "--", "sleep", "600"]);

    // inspect -f '{{.State.Pid}}': a live process, inside the sandbox's own network namespace.
    const pid = Number((await lab.berthOk(["inspect", "-f", "{{.State.Pid}}", "web"])).trim());
    assert.ok(Number.isInteger(pid) && pid > 1, `pid ${pid}`);
    const nsIno = statSync(await lab.sandboxNs("web")).ino;
    assert.equal(readlinkSync(`/proc/${pid}/ns/net`), `net:[${nsIno}]`, "the PID is in web's network namespace");
    assert.equal(await lab.berthOk(["inspect", "--format", "{{.Name}} {{index .Config.Labels \"tier\"}} {{range $n, $e := .NetworkSettings.Networks}}{{$n}}={{$e.IPAddress}}{{end}}", "web"]), "/web front fmt-net=10.77.0.2\n");
    assert.equal(await lab.berthOk(["inspect", "-f", "{{json .State.Running}}", "web", "db"]), "true\ntrue\n");

    // ps --format: one line per sandbox; table adds a header and aligns.
    assert.deepEqual((await lab.berthOk(["ps", "--format", "{{.Names}}"])).trim().split("\n").sort(), ["db", "web"]);
    const tableOut = (await lab.berthOk(["ps", "--format", "table {{.Names}}\t{{.Networks}}"])).split("\n");
    assert.match(tableOut[0]!, /^NAMES\s{3,}NETWORKS$/);
    assert.ok(tableOut.some((l) => /^web\s{3,}fmt-net$/.test(l)), tableOut.join("\n"));

    // network ls --format and network inspect -f.
    const nets = (await lab.berthOk(["network", "ls", "--format", "{{.Name}}:{{.Driver}}"])).trim().split("\n");
    assert.ok(nets.includes("fmt-net:bridge") && nets.includes("bridge:bridge"), nets.join(","));
    assert.equal(await lab.berthOk(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "fmt-net"]), "10.77.0.0/24\n");

    // A template error is a clear message, nothing printed on stdout.
    const bad = await lab.berth(["inspect", "-f", "{{.State.Pid", "web"]);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /template parsing error: template: :1: unclosed action/);

    // Usage errors as docker's: unknown flag + See line; run exits 125.
    const run = await lab.berth(["run", "--no-such-flag", "--", "true"]);
    assert.equal(run.code, 125);
    assert.equal(run.stderr, "unknown flag: --no-such-flag\nSee 'berth run --help'.\n");
    const insp = await lab.berth(["inspect"]);
    assert.equal(insp.code, 1);
    assert.match(insp.stderr, /^"berth inspect" requires at least 1 argument\.\nSee 'berth inspect --help'\.\n\nUsage:  berth inspect /);
  });
});
