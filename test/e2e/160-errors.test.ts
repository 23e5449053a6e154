// Errors users make: each is refused with a message they can act on and an exit code like
// Docker's (125 for run, 1 for the other commands), and leaves nothing changed: network ls,
// ps -a and the host namespace's interfaces are as before.

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { assertFails, ipOn, pingFrom, psJson, snapshot } from "./foundation.js";

test("errors: refused with clear messages and nothing changed", async () => {
  await withLab("er", {}, async (lab) => {
    await lab.berthOk(["network", "create", "--subnet", "10.10.0.0/16", "used"]);
    await lab.berthOk(["network", "create", "auto"]);
    await lab.berthOk(["run", "-d", "--name", "busy", "--network", "used", "--", "sleep", "600"]);
    await lab.berthOk(["run", "-d", "--name", "peer", "--network", "used", "--", "sleep", "600"]);
    const busyIp = await ipOn(lab, "busy", "used");
    const before = await snapshot(lab);
    const unchanged = async (what: string) => assert.deepEqual(await snapshot(lab), before, `${what} changed something`);

    // Bad names.
    for (const bad of ["my net", "a/b", "-x", ""]) {
      const r = await lab.berth(["network", "create", "--", bad]);
      assert.notEqual(r.code, 0, `network create ${JSON.stringify(bad)} succeeded`);
      assert.match(r.stderr, /Error|error|invalid/i, `network create ${JSON.stringify(bad)}: ${r.stderr}`);
    }
    await unchanged("bad network names");
    for (const bad of ["bad/name", "x y", "-lead"]) {
      const r = await lab.berth(["run", "-d", "--name", bad, "--", "sleep", "600"]);
      assert.equal(r.code, 125, `run --name ${JSON.stringify(bad)}: ${r.code} ${r.stderr}`);
      assert.match(r.stderr, /Invalid container name|invalid|name/i, r.stderr);
    }
    await unchanged("bad sandbox names");
    const dupName = await lab.berth(["run", "-d", "--name", "busy", "--", "sleep", "600"]);
    assertFails(dupName, 125, 'The container name "/busy" is already in use', "run with a taken name");
    const dupNet = await lab.berth(["network", "create", "used"]);
    assertFails(dupNet, 1, "network with name used already exists", "network create with a taken name");
    await unchanged("taken names");

    // --ip without a user-configured subnet: Docker's text, on the default bridge and on a
    // user network created without --subnet.
    const ipText = "user specified IP address is supported only when connecting to networks with user configured subnets";
    assertFails(await lab.berth(["run", "-d", "--ip", "172.17.0.50", "--", "sleep", "600"]), 125, ipText, "--ip on the default bridge");
    assertFails(await lab.berth(["run", "-d", "--network", "auto", "--ip", "172.19.0.50", "--", "sleep", "600"]), 125, ipText, "--ip on a pool network");
    assertFails(await lab.berth(["network", "connect", "--ip", "172.19.0.51", "auto", "peer"]), 1, ipText, "connect --ip on a pool network");
    // --ip outside the subnet.
    const outside = await lab.berth(["run", "-d", "--network", "used", "--ip", "10.99.0.5", "--", "sleep", "600"]);
    assert.equal(outside.code, 125, outside.stderr);
    assert.match(outside.stderr, /10\.99\.0\.5/);
    const gw = await lab.berth(["run", "-d", "--network", "used", "--ip", "10.10.0.1", "--", "sleep", "600"]);
    assertFails(gw, 125, /10\.10\.0\.1.*gateway/, "--ip of the gateway");
    await unchanged("--ip errors");

    // Overlapping subnets: with a user network, and with the default bridge.
    assertFails(await lab.berth(["network", "create", "--subnet", "10.10.5.0/24", "inner"]), 1, /Pool overlaps with other one on this address space/, "overlap with used");
    assertFails(await lab.berth(["network", "create", "--subnet", "10.0.0.0/8", "outer"]), 1, /Pool overlaps/, "a subnet containing used");
    assertFails(await lab.berth(["network", "create", "--subnet", "172.17.128.0/17", "clash"]), 1, /Pool overlaps/, "overlap with bridge");
    // Malformed subnet / gateway outside it.
    assert.notEqual((await lab.berth(["network", "create", "--subnet", "10.300.0.0/16", "bad1"])).code, 0);
    assert.notEqual((await lab.berth(["network", "create", "--subnet", "10.20.0.0/16", "--gateway", "10.21.0.1", "bad2"])).code, 0);
    await unchanged("subnet errors");

    // Removing a network with active endpoints; a built-in one; an unknown one.
    const rmBusy = await lab.berth(["network", "rm", "used"]);
    assertFails(rmBusy, 1, /has active endpoints/, "network rm with endpoints");
    assert.match(rmBusy.stderr, /busy/);
    assertFails(await lab.berth(["network", "rm", "bridge"]), 1, "bridge is a pre-defined network and cannot be removed", "rm bridge");
    assertFails(await lab.berth(["network", "rm", "nosuch"]), 1, /nosuch/, "rm unknown network");
    await unchanged("network rm errors");
    assert.ok(await pingFrom(lab, "peer", busyIp), "busy is still reachable after the refused network rm");

    // Unknown network: run, connect, inspect.
    assertFails(await lab.berth(["run", "-d", "--network", "nosuch", "--", "sleep", "600"]), 125, /network nosuch not found/, "run --network nosuch");
    assertFails(await lab.berth(["network", "connect", "nosuch", "busy"]), 1, /nosuch/, "connect to an unknown network");
    assertFails(await lab.berth(["network", "connect", "auto", "nosuchbox"]), 1, /No such container: nosuchbox/, "connect an unknown sandbox");
    assertFails(await lab.berth(["network", "inspect", "nosuch"]), 1, /nosuch/, "inspect an unknown network");
    assertFails(await lab.berth(["inspect", "nosuchbox"]), 1, /No such container: nosuchbox/, "inspect an unknown sandbox");
    assertFails(await lab.berth(["run", "-d", "--network", "none", "--network", "used", "--", "sleep", "600"]), 125, /conflicting options/, "none with another network");
    await unchanged("unknown network errors");

    // rm of a running sandbox without -f; stop/start of an unknown one.
    const rmRunning = await lab.berth(["rm", "busy"]);
    assertFails(rmRunning, 1, "You cannot remove a running container", "rm a running sandbox");
    assertFails(await lab.berth(["stop", "nosuchbox"]), 1, /No such container/, "stop unknown");
    assertFails(await lab.berth(["exec", "nosuchbox", "--", "true"]), 1, /No such container/, "exec unknown");
    await unchanged("rm without -f");
    assert.ok(await pingFrom(lab, "peer", busyIp), "busy is still reachable after the refused rm");
    // Then -f removes it, its interfaces and its namespace.
    await lab.berthOk(["rm", "-f", "busy"]);
    const after = await snapshot(lab);
    assert.equal(after.links.length, before.links.length - 1, `rm -f took one host veth: ${before.links} -> ${after.links}`);
    assert.deepEqual(psJson(await lab.berthOk(["ps", "-a", "--format", "json"])).map((s) => s["Names"]), ["peer"]);

    // A command that does not exist: run fails (Docker: 127) and leaves no running sandbox.
    // run returns once berthd has recorded the exit (192 tests this under load); a generous
    // timeout, so a slow machine makes the run slow, not a CLI killed with nocmd half-started.
    const noCmd = await lab.berth(["run", "--name", "nocmd", "--", "/no/such/command"], { timeoutMs: 120_000 });
    assert.equal(noCmd.timedOut, false, "berth run did not return within 120 s");
    assert.equal(noCmd.code, 127, `exit code of run: ${noCmd.stderr}`);
    assert.equal(psJson(await lab.berthOk(["ps", "--format", "json"])).map((s) => s["Names"]).join(), "peer");
    // Usage errors of the CLI itself.
    assert.equal((await lab.berth(["run", "-d"])).code, 125, "run without a command");
    assert.notEqual((await lab.berth(["network", "frobnicate"])).code, 0);
  });
});
