// S23 (health): --health-cmd runs inside the sandbox (its files, as berth exec); --health-http
// and --health-tcp are probed by berthd without a process; Docker's State.Health shape in
// inspect (Status, FailingStreak, Log of the last 5), the status in `berth ps`, retries and the
// start period, Docker's defaults, --no-healthcheck, and clear errors for bad flags.

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { assertFails, psJson } from "./foundation.js";
import { healthOf, waitFor, waitHealth } from "./svc-helpers.js";

const SLEEP = ["sleep", "600"];

test("S23 health checks: command, HTTP and TCP probes, Docker's State.Health, ps status", async () => {
  await withLab("h400", {}, async (lab) => {
    await lab.berthOk(["network", "create", "app"]);

    // A command check inside the sandbox: healthy while /tmp/ok exists in *its* view (a file the
    // check creates and removes through berth exec, so it runs where exec runs).
    await lab.berthOk(["run", "-d", "--name", "c1", "--network", "app", "--health-cmd", "test -e /tmp/sve-ok-$HOSTNAME && echo fine", "--health-interval", "300ms", "--health-retries", "2", "--hostname", "c1host", "--", ...SLEEP]);
    // The check has not passed yet: it becomes unhealthy after 2 failures.
    const bad = await waitHealth(lab, "c1", "unhealthy");
    assert.ok(bad!.FailingStreak >= 2, `FailingStreak counts the failures: ${JSON.stringify(bad)}`);
    assert.ok(bad!.Log.length >= 2 && bad!.Log.every((l) => l.ExitCode !== 0 && l.Start && l.End), `Log has the failed results: ${JSON.stringify(bad)}`);
    await lab.berthOk(["exec", "c1", "--", "touch", "/tmp/sve-ok-c1host"]);
    try {
      const good = await waitHealth(lab, "c1", "healthy");
      assert.equal(good!.FailingStreak, 0, JSON.stringify(good));
      assert.equal(good!.Log.at(-1)!.ExitCode, 0);
      assert.match(good!.Log.at(-1)!.Output, /fine/, "the check's output is recorded");
      const full = await waitFor("Log holds the last 5 results", () => healthOf(lab, "c1"), (h) => (h?.Log.length ?? 0) >= 5, 20_000);
      assert.equal(full!.Log.length, 5, "only the last 5 results are kept");
      const ps1 = psJson(await lab.berthOk(["ps", "--format", "json"])).find((s) => s["Names"] === "c1");
      assert.match(ps1?.["Status"] ?? "", /^Up .*\(healthy\)$/, JSON.stringify(ps1));
      const table = await lab.berthOk(["ps"]);
      assert.match(table, /\(healthy\)/, table);
    } finally {
      await lab.inHost(["rm", "-f", "/tmp/sve-ok-c1host"]);
    }

    // HTTP check done by berthd: busybox httpd serving 200, then the page removed (404).
    const www = `${lab.dir}/www-h1`;
    await lab.inHostOk(["mkdir", "-p", www]);
    await lab.inHostOk(["sh", "-c", `echo ok > ${www}/index.html`]);
    await lab.berthOk(["run", "-d", "--name", "h1", "--network", "app", "--health-http", "80/index.html", "--health-interval", "300ms", "--health-retries", "1", "--", "busybox", "httpd", "-f", "-p", "80", "-h", www]);
    const hh = await waitHealth(lab, "h1", "healthy");
    assert.match(hh!.Log.at(-1)!.Output, /200/, JSON.stringify(hh));
    await lab.inHostOk(["rm", `${www}/index.html`]);
    const hu = await waitHealth(lab, "h1", "unhealthy");
    assert.match(hu!.Log.at(-1)!.Output, /404/, JSON.stringify(hu));

    // TCP check: nothing listens on 81, so it fails; a listener then makes it pass.
    await lab.berthOk(["run", "-d", "--name", "t1", "--network", "app", "--health-tcp", "81", "--health-interval", "300ms", "--health-retries", "1", "--", ...SLEEP]);
    const tu = await waitHealth(lab, "t1", "unhealthy");
    assert.match(tu!.Log.at(-1)!.Output, /refused|failed/i, JSON.stringify(tu));
    // busybox httpd without -f goes to the background itself.
    await lab.berthOk(["exec", "t1", "--", "busybox", "httpd", "-p", "81", "-h", "/tmp"]);
    await waitHealth(lab, "t1", "healthy");

    // berthd probes over the bridge: a server bound only to the sandbox's 127.0.0.1 is not seen
    // (documented); in a sandbox without a bridge address the probe runs inside its namespace.
    await lab.berthOk(["run", "-d", "--name", "lo1", "--network", "app", "--health-tcp", "80", "--health-interval", "300ms", "--health-retries", "1", "--", "busybox", "httpd", "-f", "-p", "127.0.0.1:80", "-h", "/tmp"]);
    const lo1 = await waitHealth(lab, "lo1", "unhealthy");
    assert.match(lo1!.Log.at(-1)!.Output, /refused/i, JSON.stringify(lo1));
    await lab.berthOk(["run", "-d", "--name", "none1", "--network", "none", "--health-http", "80/", "--health-interval", "300ms", "--health-retries", "1", "--", "busybox", "httpd", "-f", "-p", "127.0.0.1:80", "-h", www]);
    await lab.inHostOk(["sh", "-c", `echo ok > ${www}/index.html`]);
    await waitHealth(lab, "none1", "healthy");

    // A start period: failures inside it do not count, the status stays "starting".
    await lab.berthOk(["run", "-d", "--name", "sp", "--network", "app", "--health-cmd", "false", "--health-interval", "200ms", "--health-retries", "1", "--health-start-period", "60s", "--", ...SLEEP]);
    const sp = await waitFor("sp has failed results", () => healthOf(lab, "sp"), (h) => (h?.Log.length ?? 0) >= 3, 20_000);
    assert.equal(sp!.Status, "starting", `failures in the start period do not count: ${JSON.stringify(sp)}`);
    assert.equal(sp!.FailingStreak, 0);

    // Docker's defaults in Config.Healthcheck; --no-healthcheck: no Health at all.
    await lab.berthOk(["run", "-d", "--name", "d1", "--network", "app", "--health-cmd", "true", "--", ...SLEEP]);
    // Its first probe comes after 30 s: until then it is "starting".
    const starting = await healthOf(lab, "d1");
    assert.deepEqual(starting, { Status: "starting", FailingStreak: 0, Log: [] }, "a new sandbox with a check starts as starting");
    const ps0 = psJson(await lab.berthOk(["ps", "--format", "json"])).find((s) => s["Names"] === "d1");
    assert.match(ps0?.["Status"] ?? "", /^Up .*\(health: starting\)$/, `ps STATUS while starting: ${JSON.stringify(ps0)}`);
    const [d1] = await lab.berthJson<Array<{ Config: { Healthcheck: Record<string, unknown> }; State: Record<string, unknown> }>>(["inspect", "d1"]);
    assert.deepEqual(d1!.Config.Healthcheck, { Test: ["CMD-SHELL", "true"], Interval: 30e9, Timeout: 30e9, Retries: 3, StartPeriod: 0 });
    await lab.berthOk(["run", "-d", "--name", "n1", "--network", "app", "--no-healthcheck", "--", ...SLEEP]);
    const [n1] = await lab.berthJson<Array<{ State: Record<string, unknown> }>>(["inspect", "n1"]);
    assert.equal(n1!.State["Health"], undefined, "no check, no State.Health");
    const psn = psJson(await lab.berthOk(["ps", "--format", "json"])).find((s) => s["Names"] === "n1");
    assert.doesNotMatch(psn?.["Status"] ?? "", /health/, JSON.stringify(psn));

    // Bad flags: clear errors, nothing created.
    assertFails(await lab.berth(["run", "-d", "--name", "bad1", "--health-interval", "5x", "--health-cmd", "true", "--", ...SLEEP]), 125, '"--health-interval"', "bad duration");
    assertFails(await lab.berth(["run", "-d", "--name", "bad2", "--health-tcp", "0", "--", ...SLEEP]), 125, "--health-tcp", "bad port");
    assertFails(await lab.berth(["run", "-d", "--name", "bad3", "--health-cmd", "true", "--health-tcp", "80", "--", ...SLEEP]), 125, "only one of", "two probes");
    const all = await lab.berthOk(["ps", "-a"]);
    assert.doesNotMatch(all, /\bbad[123]\b/, all); // whole words: a hex sandbox id may hold "bad2"
  });
});
