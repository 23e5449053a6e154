// The native sandbox shim (native/berth-init.c) as a user meets it: the exit code of a command
// killed by a signal, the hostname and /etc files inside, stdin for run -i, stop and kill
// honoured, and a berthd restart (crash or upgrade) that adopts sandboxes of both shims: the
// native one and the shell chain (BERTH_NATIVE_INIT=0, as an older berthd or one built without
// a C compiler starts them).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type Lab, withLab } from "./lab.js";
import { inspect } from "./foundation.js";
import { waitFor } from "./wait.js";

/** The argv of the process that started the sandbox's command: its shim. */
function shimOf(pid: number): string[] {
  const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  return readFileSync(`/proc/${ppid}/cmdline`, "utf8").split("\0");
}

async function runningPid(lab: Lab, name: string): Promise<number> {
  return waitFor(`the PID of ${name}`, async () => {
    const s = (await inspect(lab, name)).State;
    return s.Running && s.Pid > 0 ? s.Pid : false;
  });
}

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** berthd started with BERTH_NATIVE_INIT=0: it launches sandboxes through the shell chain. */
async function startBerthdWithShellChain(lab: Lab): Promise<void> {
  process.env["BERTH_NATIVE_INIT"] = "0";
  try {
    await lab.startBerthd();
  } finally {
    delete process.env["BERTH_NATIVE_INIT"];
  }
}

test("native shim: exit codes, hostname and /etc files, run -i, stop, kill -s INT, adoption after a berthd crash of both shims", async () => {
  await withLab("pi", {}, async (lab) => {
    await lab.berthOk(["network", "create", "--subnet", "10.86.0.0/24", "pinet"]);
    // A command killed by a signal: 128 + the signal, as sh and Docker report it.
    const killed = await lab.berth(["run", "--name", "killed", "--", "sh", "-c", "kill -KILL $$"]);
    assert.equal(killed.code, 137, killed.stderr);
    assert.equal((await inspect(lab, "killed")).State.ExitCode, 137);
    const seven = await lab.berth(["run", "--rm", "--", "sh", "-c", "exit 7"]);
    assert.equal(seven.code, 7, seven.stderr);

    // The hostname, and the sandbox's own hosts, resolv.conf and hostname files.
    const files = await lab.berth(["run", "--rm", "--network", "pinet", "--ip", "10.86.0.9", "--hostname", "pi-box", "--add-host", "extra.test:10.86.0.77", "--", "sh", "-c", "hostname; echo ---; cat /etc/hostname; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf"]);
    assert.equal(files.code, 0, files.stderr);
    const [hostname, etcHostname, hosts, resolv] = files.stdout.split("---\n");
    assert.equal(hostname, "pi-box\n");
    assert.equal(etcHostname, "pi-box\n");
    assert.match(hosts!, /^10\.86\.0\.9\s+pi-box\b/m, hosts);
    assert.match(hosts!, /^10\.86\.0\.77\s+extra\.test\b/m, hosts);
    // berth's embedded DNS answers on the network's gateway.
    assert.match(resolv!, /^nameserver 10\.86\.0\.1$/m, resolv);
    // Nothing of that reached the host: its hostname and /etc/hosts are its own.
    assert.doesNotMatch(readFileSync("/etc/hosts", "utf8"), /pi-box/);

    // run -i: stdin reaches the command (a pipe from berthd through the shim).
    const cat = await lab.berth(["run", "-i", "--rm", "--", "sh", "-c", "tr a-z A-Z"], { input: "piped through\n" });
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, "PIPED THROUGH\n");

    // stop: TERM reaches the command, which exits on its own terms (not after the 10 s timeout).
    await lab.berthOk(["run", "-d", "--name", "polite", "--", "sh", "-c", "trap 'echo got TERM; exit 0' TERM; while :; do sleep 0.1; done"]);
    const politePid = await runningPid(lab, "polite");
    assert.ok(shimOf(politePid)[0]!.endsWith("/berth-init"), `the native shim started it: ${shimOf(politePid).join(" ")}`);
    const t0 = Date.now();
    await lab.berthOk(["stop", "polite"]);
    assert.ok(Date.now() - t0 < 8000, `stop took ${Date.now() - t0} ms: TERM was not honoured`);
    assert.equal((await inspect(lab, "polite")).State.ExitCode, 0);
    assert.match(await lab.berthOk(["logs", "polite"]), /got TERM/);

    // docker kill -s INT: the command gets SIGINT with its default action (the shell chain's
    // command ignored it: sh starts a background command with SIGINT ignored).
    await lab.berthOk(["run", "-d", "--name", "interrupted", "--", "sleep", "600"]);
    await runningPid(lab, "interrupted");
    const kill = await lab.api("POST", "/containers/interrupted/kill?signal=INT");
    assert.equal(kill.status, 204, kill.text);
    await waitFor("interrupted to exit", async () => !(await inspect(lab, "interrupted")).State.Running);
    assert.equal((await inspect(lab, "interrupted")).State.ExitCode, 130);

    // Adoption: one sandbox from the shell chain, one from the native shim, then berthd is killed
    // and started again; both are still running, and stop ends each (sleep killed by TERM: 143).
    await lab.stopBerthd();
    await startBerthdWithShellChain(lab);
    await lab.berthOk(["run", "-d", "--name", "old", "--network", "pinet", "--", "sleep", "600"]);
    const oldPid = await runningPid(lab, "old");
    assert.ok(shimOf(oldPid).some((a) => a.endsWith("/sandbox-init")), `the shell chain started it: ${shimOf(oldPid).join(" ")}`);
    await lab.stopBerthd();
    await lab.startBerthd();
    await lab.berthOk(["run", "-d", "--name", "new", "--network", "pinet", "--", "sleep", "600"]);
    const newPid = await runningPid(lab, "new");
    assert.ok(shimOf(newPid)[0]!.endsWith("/berth-init"));
    await lab.killBerthd();
    await lab.startBerthd();
    for (const [name, pid] of [["old", oldPid], ["new", newPid]] as const) {
      const s = (await inspect(lab, name)).State;
      assert.equal(s.Running, true, `${name} adopted after the crash`);
      assert.equal(s.Pid, pid);
      await lab.berthOk(["stop", name]);
      const after = (await inspect(lab, name)).State;
      assert.equal(after.Running, false);
      assert.equal(after.ExitCode, 143, `${name}: sleep ended by TERM`);
      assert.equal(alive(pid), false, `${name}'s command is gone`);
    }
    // Started again by this berthd: the native shim.
    await lab.berthOk(["start", "old"]);
    assert.ok(shimOf(await runningPid(lab, "old"))[0]!.endsWith("/berth-init"));
    await lab.berthOk(["rm", "-f", "old", "new", "killed", "polite", "interrupted"]);
  });
});
