// S30, the store's part: faults around berthd's data root.
//  - a truncated or garbled record file (berthd stopped): berthd starts from the record's
//    previous copy and names the file in its log; the running sandboxes are adopted and still
//    reach each other;
//  - a record with no good copy: berthd refuses to start, naming the file; restored, it starts;
//  - a data root from before the record store (one state.json) loads and is migrated;
//  - a second berthd on the same data root is refused, and the first keeps serving on its
//    socket; of two started at the same moment exactly one runs.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Lab, withLab } from "./lab.js";
import { run, spawnBg, type BgProcess } from "./lab-exec.js";
import { inspect, ipOn, netInspect } from "./foundation.js";

const recordFile = (lab: Lab, kind: "networks" | "sandboxes", id: string) => join(lab.dataRoot, "store", kind, `${id}.json`);


/** Both sandboxes run with the same PIDs as before and reach each other. */
async function assertAdopted(lab: Lab, pids: Record<string, number>, when: string): Promise<void> {
  for (const [name, pid] of Object.entries(pids)) {
    const j = await inspect(lab, name);
    assert.equal(j.State.Running, true, `${when}: ${name} running`);
    assert.equal(j.State.Pid, pid, `${when}: ${name} is the same process`);
  }
  const a = await inspect(lab, "keep-a");
  assert.ok(await lab.ping(a.NetworkSettings.SandboxKey, await ipOn(lab, "keep-b", "storenet")), `${when}: keep-a reaches keep-b`);
}

test("store faults: damaged records fall back to their previous copy or stop berthd by name; state.json migrates", async () => {
  await withLab("hsc", {}, async (lab) => {
    await lab.berthOk(["network", "create", "storenet"]);
    await lab.berthOk(["run", "-d", "--name", "keep-a", "--network", "storenet", "--", "sleep", "600"]);
    await lab.berthOk(["run", "-d", "--name", "keep-b", "--network", "storenet", "--", "sleep", "600"]);
    const idA = (await inspect(lab, "keep-a")).Id;
    const idB = (await inspect(lab, "keep-b")).Id;
    const pids = { "keep-a": (await inspect(lab, "keep-a")).State.Pid, "keep-b": (await inspect(lab, "keep-b")).State.Pid };
    const net = (await netInspect(lab, "storenet")).Id;
    await assertAdopted(lab, pids, "before");

    // 1. A truncated sandbox record and a garbled network record, berthd stopped.
    await lab.stopBerthd();
    const sbFile = recordFile(lab, "sandboxes", idA);
    const netFile = recordFile(lab, "networks", net);
    truncateSync(sbFile, Math.floor(readFileSync(sbFile).length / 2));
    writeFileSync(netFile, "\u0000\u0001 not json");
    const logBefore = lab.berthdLog().length;
    await lab.startBerthd();
    const log = lab.berthdLog().slice(logBefore);
    for (const f of [sbFile, netFile]) {
      assert.ok(log.includes(`store file ${f} was damaged`) && log.includes(`${f}.prev`), `berthd's log names ${f} and its previous copy:\n${log}`);
    }
    await assertAdopted(lab, pids, "after damaged files");
    // The network is still there and usable.
    await lab.berthOk(["run", "-d", "--name", "late", "--network", "storenet", "--", "sleep", "600"]);
    await lab.berthOk(["rm", "-f", "late"]);

    // 2. No good copy: refused, naming the file; restored from a backup: adopted.
    await lab.stopBerthd();
    const sbFileB = recordFile(lab, "sandboxes", idB);
    const backup = join(lab.dir, "backup.json");
    copyFileSync(sbFileB, backup);
    writeFileSync(sbFileB, '{"id":');
    writeFileSync(`${sbFileB}.prev`, "");
    await assert.rejects(lab.startBerthd(), (e: Error) => {
      assert.match(e.message, /exited \(code 1/);
      assert.ok(e.message.includes(`berthd: store file ${sbFileB} is damaged`), e.message);
      return true;
    });
    assert.ok(!existsSync(lab.socketPath), "the refused berthd left no socket");
    copyFileSync(backup, sbFileB);
    await lab.startBerthd();
    await assertAdopted(lab, pids, "after restoring the record");

    // 3. A data root from before the record store: one state.json.
    await lab.stopBerthd();
    const read = (kind: "networks" | "sandboxes") => {
      const dir = join(lab.dataRoot, "store", kind);
      return Object.fromEntries(
        readdirSync(dir)
          .filter((f) => f.endsWith(".json"))
          .map((f) => [f.slice(0, -5), JSON.parse(readFileSync(join(dir, f), "utf8")) as unknown]),
      );
    };
    const legacy = { version: 1, networks: read("networks"), sandboxes: read("sandboxes"), hostServices: [] };
    rmSync(join(lab.dataRoot, "store"), { recursive: true });
    writeFileSync(join(lab.dataRoot, "state.json"), JSON.stringify(legacy));
    const logBefore3 = lab.berthdLog().length;
    await lab.startBerthd();
    assert.match(lab.berthdLog().slice(logBefore3), /store: migrated .*state\.json to one file per record/);
    assert.ok(existsSync(join(lab.dataRoot, "state.json.migrated")) && !existsSync(join(lab.dataRoot, "state.json")));
    await assertAdopted(lab, pids, "after migrating state.json");
    await lab.berthOk(["rm", "-f", "keep-a", "keep-b"]);
    await lab.berthOk(["network", "rm", "storenet"]);
    assert.ok(!lab.berthdLog().includes("changed without being marked"), "every changed record was marked for the store");
  });
});

function berthdArgv(lab: Lab, socket: string): string[] {
  return [
    "nsenter", `--net=${lab.hostNsPath}`, "--", process.execPath, join(lab.repoRoot, "bin", "berthd"),
    "--data-root", lab.dataRoot, "--exec-root", lab.execRoot, "--socket", socket, "--resolv-conf", lab.resolvConfPath,
  ];
}

test("store faults: a second berthd on the same data root is refused; the first keeps its socket", async () => {
  await withLab("hsc", {}, async (lab) => {
    await lab.berthOk(["run", "-d", "--name", "one", "--", "sleep", "600"]);
    const pid = (await inspect(lab, "one")).State.Pid;
    // Same data root and even the same socket path: refused before it touches either.
    const second = await run(berthdArgv(lab, lab.socketPath), { timeoutMs: 20_000 }, lab);
    assert.equal(second.code, 1, `second berthd: ${second.stdout}${second.stderr}`);
    assert.match(second.stderr, new RegExp(`berthd: data root ${lab.dataRoot} is in use by another berthd \\(pid ${lab.berthdPid}\\)`));
    assert.ok(existsSync(lab.socketPath), "the first berthd's socket is still there");
    assert.equal((await lab.api("GET", "/_ping")).status, 200);
    assert.equal((await inspect(lab, "one")).State.Pid, pid);
    await lab.berthOk(["run", "-d", "--name", "two", "--", "sleep", "600"]);

    // Two started at the same moment on a data root nobody holds: exactly one runs.
    await lab.stopBerthd();
    const socks = [join(lab.dir, "race-1.sock"), join(lab.dir, "race-2.sock")];
    const racers: BgProcess[] = await Promise.all(socks.map((s, i) => spawnBg(berthdArgv(lab, s), { name: `racer${i}`, logPath: join(lab.dir, `racer-${i}.log`) }, lab)));
    try {
      const loser = await Promise.race(racers.map((r, i) => r.exited.then(() => i)));
      const winner = 1 - loser;
      assert.match(racers[loser]!.log(), /is in use by another berthd/);
      const deadline = Date.now() + 30_000;
      let answered = false;
      while (!answered && Date.now() < deadline && racers[winner]!.running()) {
        const r = await run(["curl", "-s", "--unix-socket", socks[winner]!, "http://x/_ping"], { timeoutMs: 5000 }, lab);
        answered = r.stdout === "OK";
        if (!answered) await new Promise((res) => setTimeout(res, 100));
      }
      assert.ok(answered, `the winner answers on its socket; its log:\n${racers[winner]!.log()}`);
      assert.ok(!existsSync(socks[loser]!), "the loser made no socket");
    } finally {
      for (const r of racers) if (r.running()) await r.stop("SIGTERM", 10_000);
    }
    await lab.startBerthd();
    assert.equal((await inspect(lab, "one")).State.Pid, pid, "sandboxes adopted through all of it");
    await lab.berthOk(["rm", "-f", "one", "two"]);
  });
});
