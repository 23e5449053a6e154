// Sandbox lifecycle through the CLI: run without -d streams output and returns the command's
// exit code; --rm; stop/start/restart keep the address and rebuild the network; logs (-f);
// exec and its exit code.

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { berthLinks, inspect, pingFrom, psJson } from "./foundation.js";

test("lifecycle: run (attached, exit codes, --rm), stop/start/restart, logs, exec", async () => {
  await withLab("lc", {}, async (lab) => {
    // Attached run: output streamed, exit code passed through.
    const hello = await lab.berth(["run", "--name", "hello", "--", "sh", "-c", "echo out-line; echo err-line >&2; exit 0"]);
    assert.equal(hello.code, 0, hello.stderr);
    assert.match(hello.stdout, /out-line/);
    assert.match(hello.stdout + hello.stderr, /err-line/);
    const seven = await lab.berth(["run", "--name", "seven", "--", "sh", "-c", "echo bye; exit 7"]);
    assert.equal(seven.code, 7, `exit code of the command: ${seven.code} ${seven.stderr}`);
    assert.match(seven.stdout, /bye/);
    const info7 = await inspect(lab, "seven");
    assert.equal(info7.State.Status, "exited");
    assert.equal(info7.State.ExitCode, 7);
    // The attached sandbox had a network while it ran.
    const ipRun = await lab.berth(["run", "--rm", "--", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert.equal(ipRun.code, 0, ipRun.stderr);
    assert.match(ipRun.stdout, /inet 172\.17\.0\.\d+\/16/);
    // Output that comes over time is streamed, not only at the end.
    const slow = await lab.berth(["run", "--rm", "--", "sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.2; done; exit 3"]);
    assert.equal(slow.code, 3);
    assert.equal(slow.stdout, "tick 1\ntick 2\ntick 3\n");
    // --rm: nothing left of them.
    const all = psJson(await lab.berthOk(["ps", "-a", "--format", "json"])).map((s) => s["Names"]).sort();
    assert.deepEqual(all, ["hello", "seven"]);
    assert.deepEqual(await berthLinks(lab), ["berth0"], "exited sandboxes keep no host veth");

    // A detached server: logs, exec, stop/start/restart.
    const id = (await lab.berthOk(["run", "-d", "--name", "srv", "--", "sh", "-c", "echo started; trap 'echo got TERM; exit 0' TERM; while :; do sleep 0.1; done"])).trim();
    assert.match(id, /^[0-9a-f]{64}$/, "run -d prints the full id");
    await lab.berthOk(["run", "-d", "--name", "client", "--", "sleep", "600"]);
    const before = await inspect(lab, "srv");
    const ip = before.NetworkSettings.IPAddress;
    assert.ok(await pingFrom(lab, "client", ip));
    assert.equal((await lab.berthOk(["logs", "srv"])).trim(), "started");

    // exec runs in the sandbox's namespaces and returns the command's exit code.
    const hostname = (await lab.berthOk(["exec", "srv", "--", "hostname"])).trim();
    assert.equal(hostname, id.slice(0, 12));
    assert.match(await lab.berthOk(["exec", "srv", "--", "ip", "-4", "-o", "addr", "show", "eth0"]), new RegExp(`inet ${ip.replace(/\./g, "\\.")}/16`));
    assert.equal((await lab.berth(["exec", "srv", "--", "sh", "-c", "exit 42"])).code, 42);
    assert.equal((await lab.berthOk(["exec", "-e", "FOO=bar", "srv", "--", "sh", "-c", "echo $FOO"])).trim(), "bar");

    // stop: SIGTERM reaches the command; the network goes; exec is refused.
    const hostIf = `bv${before.NetworkSettings.Networks["bridge"]!.EndpointID.slice(0, 12)}`;
    assert.ok((await berthLinks(lab)).includes(hostIf));
    await lab.berthOk(["stop", "srv"]);
    const stopped = await inspect(lab, "srv");
    assert.equal(stopped.State.Status, "exited");
    assert.equal(stopped.State.ExitCode, 0, "the command handled SIGTERM and exited 0");
    assert.match(await lab.berthOk(["logs", "srv"]), /got TERM/);
    assert.ok(!(await berthLinks(lab)).includes(hostIf), "host veth left after stop");
    assert.equal(await pingFrom(lab, "client", ip), false, "a stopped sandbox must not answer");
    const execStopped = await lab.berth(["exec", "srv", "--", "true"]);
    assert.notEqual(execStopped.code, 0);
    assert.match(execStopped.stderr, /is not running/);
    assert.equal(psJson(await lab.berthOk(["ps", "--format", "json"])).some((s) => s["Names"] === "srv"), false);

    // start: running again, same address (free in the meantime), reachable; logs append.
    await lab.berthOk(["start", "srv"]);
    const started = await inspect(lab, "srv");
    assert.equal(started.State.Running, true);
    assert.equal(started.NetworkSettings.IPAddress, ip);
    assert.ok(await pingFrom(lab, "client", ip), "reachable after start");
    assert.equal((await lab.berthOk(["logs", "srv"])).match(/started/g)?.length, 2);

    // restart: a new process, still reachable.
    await lab.berthOk(["restart", "-t", "2", "srv"]);
    const restarted = await inspect(lab, "srv");
    assert.equal(restarted.State.Running, true);
    assert.notEqual(restarted.State.Pid, started.State.Pid);
    assert.ok(await pingFrom(lab, "client", restarted.NetworkSettings.IPAddress), "reachable after restart");

    // A command that ignores SIGTERM is killed after -t seconds.
    await lab.berthOk(["run", "-d", "--name", "stubborn", "--", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]);
    const t0 = Date.now();
    await lab.berthOk(["stop", "-t", "1", "stubborn"]);
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 8000, `stop -t 1 took ${took} ms`);
    assert.equal((await inspect(lab, "stubborn")).State.Running, false);

    // logs -f follows until the sandbox ends.
    await lab.berthOk(["run", "-d", "--name", "ticker", "--", "sh", "-c", "for i in 1 2 3 4; do echo t$i; sleep 0.3; done"]);
    const follow = await lab.berth(["logs", "-f", "ticker"], { timeoutMs: 15_000 });
    assert.equal(follow.code, 0);
    assert.equal(follow.stdout, "t1\nt2\nt3\nt4\n");

    // rm: stopped ones without -f; everything is gone afterwards.
    await lab.berthOk(["rm", "hello", "seven", "stubborn", "ticker"]);
    await lab.berthOk(["rm", "-f", "srv", "client"]);
    assert.deepEqual(psJson(await lab.berthOk(["ps", "-a", "--format", "json"])), []);
    assert.deepEqual(await berthLinks(lab), ["berth0"]);
  });
});
