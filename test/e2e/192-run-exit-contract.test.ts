// The contract between an attached `berth run` and berthd (issue #8), as `docker run` has it:
// run returns only once berthd has recorded the exit — the sandbox is exited (or, with --rm,
// gone), its interfaces are deleted and the record is persisted — so every later command sees
// it. And --rm is berthd's job: it holds when the client dies.
//
// The flake this guards against: under load, `berth run --name nocmd -- /no/such/command`
// returned non-zero and `berth ps` right after still listed nocmd as running.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { berthLinks, inspect, psJson } from "./foundation.js";
import { withLab } from "./lab.js";
import { childEnv, spawnBg } from "./lab-exec.js";
import { waitFor } from "./wait.js";

const REPO_BERTH = join(import.meta.dirname, "..", "..", "..", "bin", "berth");

test("--rm is berthd's job: the sandbox is removed when its command exits, though the client was killed", async () => {
  await withLab("hprm", {}, async (lab) => {
    const marker = join(lab.dir, "rm-go");
    const cli = await spawnBg(
      [process.execPath, REPO_BERTH, "run", "--rm", "--name", "rmme", "--", "sh", "-c", `echo started; while [ ! -e ${marker} ]; do sleep 0.05; done`],
      { name: "berth-run-rm", logPath: join(lab.dir, "cli-rm.log"), env: childEnv({ BERTH_HOST: lab.berthHost }), readyPattern: /started/ },
      lab,
    );
    // The output reached the client: it is attached and the command runs. Now the client dies.
    process.kill(cli.pid, "SIGKILL");
    await cli.exited;
    const running = await inspect(lab, "rmme");
    assert.equal(running.State.Status, "running", "the sandbox outlives its client, as in Docker");
    // The command ends; berthd removes the sandbox on its own.
    writeFileSync(marker, "");
    await waitFor("berthd to remove rmme after its command exited", async () => !psJson(await lab.berthOk(["ps", "-a", "--format", "json"])).some((s) => s["Names"] === "rmme"), {
      describe: () => lab.berthOk(["ps", "-a"]),
    });
    assert.deepEqual(await berthLinks(lab), ["berth0"], "its interfaces are gone too");
    assert.equal((await lab.berthJson<Array<{ HostConfig: { AutoRemove: boolean } }>>(["inspect", (await lab.berthOk(["run", "-d", "--rm", "--", "sleep", "60"])).trim()]))[0]?.HostConfig.AutoRemove, true, "inspect shows AutoRemove");
  });
});

// Four CLI calls per iteration: on a machine busy with other work each takes a second or more.
test("an attached run returns only once the exit is recorded: run then ps, 30 times under CPU load", { timeout: 600_000 }, async () => {
  await withLab("hpexit", {}, async (lab) => {
    await lab.berthOk(["network", "create", "hpn"]);
    // CPU load made here and stopped afterwards: one spinning process per core, so berthd, the
    // shim and the CLI all wait for the CPU as on a busy CI machine.
    const burners = [0, 1].map(() => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
    try {
      for (let i = 0; i < 30; i++) {
        // A command that does not exist: 127, as Docker. A generous timeout: a slow machine makes
        // run slow, and an exit berthd never records makes it hang, which this names.
        const r = await lab.berth(["run", "--name", `nocmd${i}`, "--network", "hpn", "--", "/no/such/command"], { timeoutMs: 120_000 });
        assert.equal(r.timedOut, false, `iteration ${i}: berth run did not return within 120 s\n${lab.berthdLog().slice(-3000)}`);
        assert.equal(r.code, 127, `iteration ${i}: exit code of run (signal ${r.signal}): ${r.stdout} ${r.stderr}`);
        // Right after run: ps shows it exited, and the previous iteration's --rm sandbox is gone.
        const ps = psJson(await lab.berthOk(["ps", "-a", "--format", "json"]));
        const me = ps.find((s) => s["Names"] === `nocmd${i}`);
        assert.ok(me, `iteration ${i}: nocmd${i} is listed by ps -a`);
        assert.match(String(me["State"]), /exited/i, `iteration ${i}: ps right after run: ${JSON.stringify(me)}`);
        assert.ok(!ps.some((s) => s["Names"] === `rm${i - 1}`), `iteration ${i}: rm${i - 1} is still listed after its run --rm returned`);
        assert.deepEqual(
          (await berthLinks(lab)).filter((l) => l.startsWith("bv")),
          [],
          `iteration ${i}: a host veth is left after run returned (the exit was not fully recorded yet)`,
        );
        // --rm: when run returns, the sandbox is gone already (checked by the next ps).
        const rm = await lab.berth(["run", "--rm", "--name", `rm${i}`, "--network", "hpn", "--", "sh", "-c", "exit 3"], { timeoutMs: 120_000 });
        assert.equal(rm.timedOut, false, `iteration ${i}: berth run --rm did not return within 120 s\n${lab.berthdLog().slice(-3000)}`);
        assert.equal(rm.code, 3, `iteration ${i}: exit code of run --rm (signal ${rm.signal}): ${rm.stdout} ${rm.stderr}`);
      }
      assert.ok(!psJson(await lab.berthOk(["ps", "-a", "--format", "json"])).some((s) => s["Names"] === "rm29"), "rm29 is still listed after its run --rm returned");
    } finally {
      for (const b of burners) b.kill("SIGKILL");
    }
  });
});
