// The real `docker` CLI across a berthd restart (issue 12): restart policies are applied when
// berthd starts, as dockerd does (always: started again; unless-stopped: started again unless the
// user stopped it, which survives the restart; no: left exited), and `docker events --since
// --until --filter` answers from berthd's record of past events, then exits.

import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab, type Lab } from "./lab.js";
import { run, runOk } from "./lab-exec.js";

const DOCKER = process.env["DOCKER_CLI"] ?? "docker";

function docker(lab: Lab, args: string[], timeoutMs = 60_000) {
  return run([DOCKER, ...args], { env: { ...process.env, DOCKER_HOST: lab.berthHost, DOCKER_CONFIG: join(lab.dir, "docker-config") }, timeoutMs });
}

async function dockerOk(lab: Lab, args: string[], timeoutMs?: number): Promise<string> {
  const r = await docker(lab, args, timeoutMs);
  assert.equal(r.code, 0, `docker ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

const state = (lab: Lab, name: string) => dockerOk(lab, ["inspect", "--format", "{{.State.Status}} {{.State.Pid}}", name]);

test("455 restart policies at berthd start; docker events --since/--until --filter", { timeout: 240_000 }, async () => {
  const work = mkdtempSync("/tmp/berth-dkr-");
  try {
    const root = join(work, "root");
    mkdirSync(join(root, "bin"), { recursive: true });
    copyFileSync("/bin/busybox", join(root, "bin", "busybox"));
    for (const a of ["sh", "sleep", "true"]) symlinkSync("busybox", join(root, "bin", a));
    await runOk(["tar", "-C", root, "-cf", join(work, "bb.tar"), "."]);
    await withLab("dkr", {}, async (lab) => {
      await dockerOk(lab, ["import", "--change", "ENV PATH=/bin", join(work, "bb.tar"), "bb:1"]);
      const since = Math.floor(Date.now() / 1000);
      await dockerOk(lab, ["run", "-d", "--name", "always", "--restart", "always", "--label", "tier=a", "bb:1", "sleep", "1000"]);
      await dockerOk(lab, ["run", "-d", "--name", "unless", "--restart", "unless-stopped", "bb:1", "sleep", "1000"]);
      await dockerOk(lab, ["run", "-d", "--name", "userstop", "--restart", "unless-stopped", "bb:1", "sleep", "1000"]);
      await dockerOk(lab, ["run", "-d", "--name", "never", "bb:1", "sleep", "1000"]);
      await dockerOk(lab, ["stop", "-t", "1", "userstop"]);

      // Past events: the four starts (not the creates, not userstop's die), in order; with an
      // until that has passed (or passes in a second) the CLI gets them and exits by itself.
      const until = Math.floor(Date.now() / 1000) + 1;
      const ev = await dockerOk(lab, ["events", "--since", String(since), "--until", String(until), "--filter", "event=start", "--format", "{{.Actor.Attributes.name}} {{.Action}}"], 20_000);
      assert.deepEqual(ev.split("\n"), ["always start", "unless start", "userstop start", "never start"]);
      const byLabel = await dockerOk(lab, ["events", "--since", String(since), "--until", String(until), "--filter", "label=tier=a", "--filter", "type=container", "--format", "{{.Action}}"], 20_000);
      assert.deepEqual(byLabel.split("\n"), ["create", "start"]);
      const bad = await docker(lab, ["events", "--since", String(since), "--until", String(until), "--filter", "colour=red"], 20_000);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /invalid filter 'colour'/);

      // berthd goes down; the containers' processes end while it is away (as in a host reboot).
      const before: Record<string, number> = {};
      for (const n of ["always", "unless", "never"]) {
        const [status, pid] = (await state(lab, n)).split(" ");
        assert.equal(status, "running", `${n} runs before the restart`);
        before[n] = Number(pid);
      }
      await lab.stopBerthd();
      for (const pid of Object.values(before)) process.kill(pid, "SIGKILL");
      await lab.startBerthd();

      // Restart policies are applied before berthd answers, after reconcile saw the processes gone.
      for (const n of ["always", "unless"]) {
        const [status, pid] = (await state(lab, n)).split(" ");
        assert.equal(status, "running", `${n} was started again by its restart policy at berthd start`);
        assert.ok(Number(pid) > 0 && Number(pid) !== before[n], `${n} has a new process (was ${before[n]}, now ${pid})`);
      }
      assert.match(await state(lab, "userstop"), /^exited /, "an unless-stopped container the user stopped stays stopped");
      assert.match(await state(lab, "never"), /^exited /, "a container without a restart policy stays exited");
      assert.equal(await dockerOk(lab, ["ps", "--format", "{{.Names}}"]).then((s) => s.split("\n").sort().join(" ")), "always unless");

      // A start by the user clears the stop: the next berthd start keeps it running.
      await dockerOk(lab, ["start", "userstop"]);
      const upid = Number((await state(lab, "userstop")).split(" ")[1]);
      await lab.stopBerthd();
      process.kill(upid, "SIGKILL");
      await lab.startBerthd();
      assert.match(await state(lab, "userstop"), /^running /, "started by the user, then restarted at berthd start");
      await dockerOk(lab, ["rm", "-f", "always", "unless", "userstop", "never"]);
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
