// Crash safety: berthd is killed with SIGKILL at random moments while sandboxes are being
// started and removed; after each restart the kernel and berth's view must agree:
//  - every berth interface in the host namespace (berth0, berth-*, bv*) belongs to a network
//    or to an endpoint of a running sandbox, and every running sandbox's host veth exists;
//  - every namespace under EXEC_ROOT/netns is a running sandbox's, and every running sandbox's
//    namespace exists and holds its address;
//  - no sandbox process runs without a running sandbox;
//  - no address is used twice; every running sandbox reaches a peer.

import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";
import { type Lab, withLab } from "./lab.js";
import { addrsIn, berthLinks, psJson, type NetworkJson, type SandboxJson } from "./foundation.js";
import { waitFor } from "./wait.js";

const ITERATIONS = 15;
/** Every sandbox of this test runs `sleep MARKER`, so a stray one is easy to find in /proc. */
const MARKER = "6017";

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** PIDs of `sleep MARKER` processes started by this lab's berthd (their shim's state dir is in the lab). */
function sleepers(lab: Lab): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (argv[0] !== "sleep" || argv[1] !== MARKER) continue;
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, "utf8"))?.[1]);
      const parent = readFileSync(`/proc/${ppid}/cmdline`, "utf8");
      if (parent.includes(lab.dataRoot)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function getJson<T>(lab: Lab, path: string): Promise<T> {
  const r = await lab.api("GET", path);
  assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.text}`);
  return r.json<T>();
}

interface Converged {
  running: SandboxJson[];
}

async function assertConverged(lab: Lab, when: string, anchors: Record<string, string>, reach: boolean): Promise<Converged> {
  const list = await getJson<Array<{ Id: string; State: string }>>(lab, "/containers/json?all=1");
  const running = await Promise.all(
    list
      .filter((s) => s.State === "running")
      .map(async (s) => {
        // berthd answers start before the shim reports the command's PID: give it a moment.
        let j = await getJson<SandboxJson>(lab, `/containers/${s.Id}/json`);
        await waitFor(`the PID of running sandbox ${s.Id.slice(0, 12)}`, async () => {
          j = await getJson<SandboxJson>(lab, `/containers/${s.Id}/json`);
          return !j.State.Running || j.State.Pid > 0;
        }, { describe: () => JSON.stringify(j.State) });
        return j;
      }),
  ).then((all) => all.filter((j) => j.State.Running));
  const nets = await getJson<NetworkJson[]>(lab, "/networks");
  const bridges = new Set(nets.filter((n) => n.Driver === "bridge").map((n) => n.Options["com.docker.network.bridge.name"] ?? `berth-${n.Id.slice(0, 9)}`));

  // Interfaces.
  const wantVeths = new Set<string>();
  for (const sb of running) for (const ep of Object.values(sb.NetworkSettings.Networks)) if (ep.EndpointID) wantVeths.add(`bv${ep.EndpointID.slice(0, 12)}`);
  const links = await berthLinks(lab);
  const stray = links.filter((l) => !bridges.has(l) && !wantVeths.has(l));
  assert.deepEqual(stray, [], `${when}: interfaces no running sandbox or network owns`);
  const missing = [...wantVeths, ...bridges].filter((l) => !links.includes(l));
  assert.deepEqual(missing, [], `${when}: interfaces of running sandboxes/networks missing`);

  // Namespaces.
  const nsDir = join(lab.execRoot, "netns");
  let nsFiles: string[] = [];
  try {
    nsFiles = readdirSync(nsDir).sort();
  } catch {
    nsFiles = [];
  }
  const wantNs = running.map((s) => basename(s.NetworkSettings.SandboxKey)).sort();
  assert.deepEqual(nsFiles, wantNs, `${when}: namespaces under EXEC_ROOT/netns vs running sandboxes`);

  // Processes: every `sleep MARKER` belongs to a running sandbox.
  const pids = new Set(running.map((s) => s.State.Pid));
  const orphans = sleepers(lab).filter((p) => !pids.has(p));
  assert.deepEqual(orphans, [], `${when}: sandbox processes left without a running sandbox`);

  // Addresses: unique per network, and present in the sandbox's namespace.
  const seen = new Map<string, string>();
  const addrsOf = await Promise.all(running.map(async (sb) => Object.values(await addrsIn(lab, sb.NetworkSettings.SandboxKey)).flat()));
  for (const [i, sb] of running.entries()) {
    const addrs = addrsOf[i]!;
    for (const [net, ep] of Object.entries(sb.NetworkSettings.Networks)) {
      assert.ok(ep.IPAddress, `${when}: running ${sb.Name} has no address on ${net}`);
      const key = `${net}/${ep.IPAddress}`;
      assert.equal(seen.get(key), undefined, `${when}: ${ep.IPAddress} on ${net} is used by ${seen.get(key)} and ${sb.Name}`);
      seen.set(key, sb.Name);
      assert.ok(addrs.includes(`${ep.IPAddress}/${ep.IPPrefixLen}`), `${when}: ${sb.Name}'s namespace lacks ${ep.IPAddress}: ${addrs}`);
    }
  }

  // Reachability: every running sandbox reaches the anchor of its (first) network.
  if (reach) {
    const results = await Promise.all(
      running.map(async (sb) => {
        const [net, ep] = Object.entries(sb.NetworkSettings.Networks)[0]!;
        const target = anchors[net];
        if (!target || target === ep.IPAddress) return "";
        return (await lab.ping(sb.NetworkSettings.SandboxKey, target)) ? "" : `${sb.Name} -/-> ${target} on ${net}`;
      }),
    );
    assert.deepEqual(results.filter(Boolean), [], `${when}: running sandboxes that do not reach their peer`);
  }
  return { running };
}

test("crash: SIGKILL of berthd while sandboxes start and go, then convergence", async (t) => {
  const seed = Number(process.env["BERTH_CRASH_SEED"] ?? Date.now() % 100000);
  t.diagnostic(`seed ${seed} (set BERTH_CRASH_SEED to replay)`);
  const rnd = prng(seed);
  // Under load a restart with many sandboxes to adopt can take several seconds before /_ping.
  await withLab("cr", { berthdReadyTimeoutMs: 30_000 }, async (lab) => {
    // BERTH_CRASH_LOG=FILE keeps berthd's whole log (all its starts) for a post-mortem.
    const keepLog = process.env["BERTH_CRASH_LOG"];
    if (keepLog) t.after(() => writeFileSync(keepLog, lab.berthdLog()));
    await lab.berthOk(["network", "create", "crashnet"]);
    const t0 = performance.now();
    await lab.berthOk(["run", "-d", "--name", "anchor-b", "--", "sleep", MARKER]);
    const runMs = performance.now() - t0;
    t.diagnostic(`one berth run -d took ${runMs.toFixed(0)} ms`);
    await lab.berthOk(["run", "-d", "--name", "anchor-c", "--network", "crashnet", "--", "sleep", MARKER]);
    const anchors = {
      bridge: (await getJson<SandboxJson>(lab, "/containers/anchor-b/json")).NetworkSettings.Networks["bridge"]!.IPAddress,
      crashnet: (await getJson<SandboxJson>(lab, "/containers/anchor-c/json")).NetworkSettings.Networks["crashnet"]!.IPAddress,
    };
    const killedAt: number[] = [];
    let outcomes = { ok: 0, failed: 0 };
    for (let i = 0; i < ITERATIONS; i++) {
      const existing = (await getJson<Array<{ Names: string[] }>>(lab, "/containers/json?all=1"))
        .map((s) => s.Names[0]!.slice(1))
        .filter((n) => !n.startsWith("anchor"));
      const ops: Array<Promise<{ code: number | null }>> = [];
      ops.push(lab.berth(["run", "-d", "--name", `c${i}a`, "--network", "crashnet", "--", "sleep", MARKER], { timeoutMs: 20_000 }));
      ops.push(lab.berth(["run", "-d", "--name", `c${i}b`, "--", "sleep", MARKER], { timeoutMs: 20_000 }));
      // Remove one or two earlier ones; sometimes stop one, or connect one to the other network.
      for (let k = 0; k < 2 && existing.length; k++) {
        const victim = existing.splice(Math.floor(rnd() * existing.length), 1)[0]!;
        const what = rnd();
        if (what < 0.6) ops.push(lab.berth(["rm", "-f", victim], { timeoutMs: 20_000 }));
        else if (what < 0.8) ops.push(lab.berth(["stop", "-t", "0", victim], { timeoutMs: 20_000 }));
        else ops.push(lab.berth(["network", "connect", victim.endsWith("a") ? "bridge" : "crashnet", victim], { timeoutMs: 20_000 }));
      }
      // Kill before, during and after the operations: anywhere in 3 times what one lone run took (they run side by side).
      const delay = Math.floor(rnd() * 3 * runMs);
      killedAt.push(delay);
      await new Promise((r) => setTimeout(r, delay));
      await lab.killBerthd();
      for (const r of await Promise.all(ops)) r.code === 0 ? outcomes.ok++ : outcomes.failed++;
      await lab.startBerthd();
      await assertConverged(lab, `after kill #${i + 1} at ${delay} ms`, anchors, i % 5 === 4);
    }
    t.diagnostic(`kills at ${killedAt.join(", ")} ms; operations: ${outcomes.ok} completed, ${outcomes.failed} cut off`);

    // berthd keeps working after all that: a new sandbox starts and reaches the anchor; a
    // stopped one starts again; removing everything leaves only the bridges.
    await lab.berthOk(["run", "-d", "--name", "final", "--network", "crashnet", "--", "sleep", MARKER]);
    const { running } = await assertConverged(lab, "at the end", anchors, true);
    assert.ok(running.some((s) => s.Name === "/final"));
    const all = psJson(await lab.berthOk(["ps", "-a", "--format", "json"]));
    const stopped = all.find((s) => s["State"] !== "running" && s["Names"] !== "final");
    if (stopped) {
      const r = await lab.berth(["start", stopped["Names"]!]);
      // A sandbox cut off mid-create may be unstartable for a good reason, but not half-started.
      t.diagnostic(`restarting ${stopped["Names"]}: exit ${r.code} ${r.stderr.trim()}`);
      await assertConverged(lab, `after starting ${stopped["Names"]} again`, anchors, true);
    }
    await lab.berthOk(["rm", "-f", ...all.map((s) => s["Names"]!)]);
    await lab.berthOk(["network", "rm", "crashnet"]);
    assert.deepEqual(await berthLinks(lab), ["berth0"]);
    assert.deepEqual(readdirSync(join(lab.execRoot, "netns")), []);
    assert.deepEqual(sleepers(lab), []);
  });
});
