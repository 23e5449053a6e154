// berthd's netlink helper starts the sandboxes' shims (kernel/netlink-helper.ts spawn). If that
// helper dies, its sandboxes run on, parentless: berthd then watches them as it watches
// sandboxes adopted after a restart, so their exits are still recorded with their codes, stop
// and rm -f still work, and the next start gets a new helper.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { inspect } from "./foundation.js";

/** PIDs of berthd's children named berth-netlink. */
function helperPids(berthd: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${berthd}/task`)) {
    for (const c of readFileSync(`/proc/${berthd}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) {
      const comm = readFileSync(`/proc/${c}/comm`, "utf8").trim();
      if (comm === "berth-netlink") out.push(Number(c));
    }
  }
  return out;
}

test("the netlink helper killed: sandboxes it started are still watched, stopped and removed", async () => {
  await withLab("hlost", {}, async (lab) => {
    await lab.berthOk(["run", "-d", "--name", "ends", "--", "sh", "-c", "sleep 3; exit 7"]);
    await lab.berthOk(["run", "-d", "--name", "stays", "--", "sleep", "600"]);
    await lab.berthOk(["run", "-d", "--name", "goes", "--", "sleep", "600"]);
    const pid = lab.berthdPid!;
    const helpers = helperPids(pid);
    assert.equal(helpers.length, 1, `one berth-netlink under berthd: ${helpers.join(" ")}`);
    process.kill(helpers[0]!, "SIGKILL");

    // The sandbox that ends by itself is seen to end, with its code.
    const waited = await lab.api("POST", "/containers/ends/wait");
    assert.equal(waited.status, 200, waited.text);
    assert.equal((waited.json() as { StatusCode: number }).StatusCode, 7);
    assert.equal((await inspect(lab, "ends")).State.Status, "exited");

    // stop and rm -f of sandboxes the lost helper started.
    assert.equal((await inspect(lab, "stays")).State.Running, true, "still running without its starter");
    await lab.berthOk(["stop", "-t", "1", "stays"]);
    const stays = await inspect(lab, "stays");
    assert.equal(stays.State.Running, false);
    assert.equal(stays.State.ExitCode, 143, "sleep ended by SIGTERM");
    await lab.berthOk(["rm", "-f", "goes"]);
    assert.equal((await lab.berth(["inspect", "goes"])).code, 1, "goes is removed");

    // A new sandbox gets a new helper; its end is heard as before.
    await lab.berthOk(["run", "-d", "--name", "after", "--", "sh", "-c", "exit 5"]);
    const after = await lab.api("POST", "/containers/after/wait");
    assert.equal((after.json() as { StatusCode: number }).StatusCode, 5);
    const now = helperPids(pid);
    assert.equal(now.length, 1, `a new berth-netlink: ${now.join(" ")}`);
    assert.notEqual(now[0], helpers[0]);
    assert.equal(lab.berthdPid, pid, "berthd is the same process");
  });
});
