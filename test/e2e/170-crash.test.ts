// Crash safety: berthd is killed with SIGKILL at random moments while sandboxes are being
// started and removed (test 1), and while networks with custom bridge names are created and
// removed, sandboxes disconnected, and sandboxes launched in host and container: modes
// (test 2); after each restart the kernel and berth's view must agree:
//  - every berth interface in the host namespace (berth0, berth-*, bv*, and the custom
//    bridges cbr*) belongs to a network or to an endpoint of a running sandbox, and every
//    running sandbox's host veth and every network's bridge exists;
//  - every namespace under EXEC_ROOT/netns is a running sandbox's, and every running sandbox's
//    namespace exists, holds its address, and has exactly one interface per endpoint;
//  - no sandbox process runs without a running sandbox (host and container: modes included);
//  - no address is used twice; every running sandbox reaches a peer.
// BERTH_CRASH_ROUNDS=N runs N rounds in each test (default 15 and 10), BERTH_CRASH_SEED replays.

import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test, type TestContext } from "node:test";
import { type Lab, withLab } from "./lab.js";
import { addrsIn, berthLinks, linksIn, psJson, type NetworkJson, type SandboxJson } from "./foundation.js";

const ROUNDS = Number(process.env["BERTH_CRASH_ROUNDS"] ?? 0);
const ITERATIONS = ROUNDS || 15;
const OPS_ROUNDS = ROUNDS || 10;
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
        for (let i = 0; i < 30 && j.State.Running && !j.State.Pid; i++) {
          await new Promise((r) => setTimeout(r, 100));
          j = await getJson<SandboxJson>(lab, `/containers/${s.Id}/json`);
        }
        return j;
      }),
  ).then((all) => all.filter((j) => j.State.Running));
  const nets = await getJson<NetworkJson[]>(lab, "/networks");
  const bridges = new Set(nets.filter((n) => n.Driver === "bridge").map((n) => n.Options["com.docker.network.bridge.name"] ?? `berth-${n.Id.slice(0, 9)}`));
  // Sandboxes with a namespace of their own (host and container: modes have none).
  const own = running.filter((s) => s.HostConfig.NetworkMode !== "host" && !s.HostConfig.NetworkMode.startsWith("container:"));

  // Interfaces.
  const wantVeths = new Set<string>();
  for (const sb of running) for (const ep of Object.values(sb.NetworkSettings.Networks)) if (ep.EndpointID) wantVeths.add(`bv${ep.EndpointID.slice(0, 12)}`);
  const links = (await linksIn(lab, lab.hostNsPath)).filter((n) => /^(berth0|berth-|bv|cbr)/.test(n));
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
  const wantNs = own.map((s) => basename(s.NetworkSettings.SandboxKey)).sort();
  assert.deepEqual(nsFiles, wantNs, `${when}: namespaces under EXEC_ROOT/netns vs running sandboxes`);

  // Processes: every `sleep MARKER` belongs to a running sandbox.
  const pids = new Set(running.map((s) => s.State.Pid));
  const orphans = sleepers(lab).filter((p) => !pids.has(p));
  assert.deepEqual(orphans, [], `${when}: sandbox processes left without a running sandbox`);

  // Addresses: unique per network, and present in the sandbox's namespace.
  const seen = new Map<string, string>();
  const addrsOf = await Promise.all(own.map(async (sb) => Object.values(await addrsIn(lab, sb.NetworkSettings.SandboxKey)).flat()));
  const ifsOf = await Promise.all(own.map(async (sb) => (await linksIn(lab, sb.NetworkSettings.SandboxKey)).filter((l) => l !== "lo")));
  for (const [i, sb] of own.entries()) {
    const addrs = addrsOf[i]!;
    assert.equal(ifsOf[i]!.length, Object.keys(sb.NetworkSettings.Networks).length, `${when}: ${sb.Name}'s namespace has interfaces ${ifsOf[i]} for networks ${Object.keys(sb.NetworkSettings.Networks)}`);
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
      own.map(async (sb) => {
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

interface CrashLab {
  lab: Lab;
  rnd: () => number;
  /** How long one lone `berth run -d` took. */
  runMs: number;
  /** Address of the anchor sandbox on each network (bridge, crashnet). */
  anchors: Record<string, string>;
}

/** A lab with network crashnet and an anchor sandbox on it and on bridge; seeded randomness. */
async function withCrashLab(t: TestContext, prefix: string, fn: (c: CrashLab) => Promise<void>): Promise<void> {
  const seed = Number(process.env["BERTH_CRASH_SEED"] ?? Date.now() % 100000);
  t.diagnostic(`seed ${seed} (set BERTH_CRASH_SEED to replay)`);
  const rnd = prng(seed);
  // Under load a restart with many sandboxes to adopt can take several seconds before /_ping.
  await withLab(prefix, { berthdReadyTimeoutMs: 30_000 }, async (lab) => {
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
    await fn({ lab, rnd, runMs, anchors });
  });
}

test("crash: SIGKILL of berthd while sandboxes start and go, then convergence", async (t) => {
  await withCrashLab(t, "cr", async ({ lab, rnd, runMs, anchors }) => {
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
    assert.ok(!lab.berthdLog().includes("changed without being marked"), "every changed record was marked for the store");
  });
});

test("crash: SIGKILL during custom-bridge network create and rm, disconnect, host and container: launches", async (t) => {
  await withCrashLab(t, "cs", async ({ lab, rnd, anchors }) => {
    const killedAt: number[] = [];
    const outcomes = { ok: 0, failed: 0 };
    const opts = { timeoutMs: 20_000 };
    /** One round's operations, all at once; `i` names what they make. */
    const round = async (i: number | string): Promise<Array<Promise<{ code: number | null }>>> => {
      // Prepared while berthd runs: a sandbox on two networks, to be disconnected from one.
      await lab.berthOk(["run", "-d", "--name", `d${i}`, "--network", "crashnet", "--", "sleep", MARKER], opts);
      await lab.berthOk(["network", "connect", "bridge", `d${i}`], opts);
      const nets = (await getJson<NetworkJson[]>(lab, "/networks")).map((n) => n.Name).filter((n) => n.startsWith("cnet"));
      const earlier = (await getJson<Array<{ Names: string[] }>>(lab, "/containers/json?all=1"))
        .map((s) => s.Names[0]!.slice(1))
        .filter((n) => /^[hk]\d/.test(n));
      const ops = [
        lab.berth(["network", "create", "-o", `com.docker.network.bridge.name=cbr${i}`, `cnet${i}`], opts),
        lab.berth(["network", "disconnect", rnd() < 0.5 ? "bridge" : "crashnet", `d${i}`], opts),
        lab.berth(["run", "-d", "--name", `h${i}`, "--network", "host", "--", "sleep", MARKER], opts),
        lab.berth(["run", "-d", "--name", `k${i}`, "--network", "container:anchor-c", "--", "sleep", MARKER], opts),
      ];
      if (nets.length && rnd() < 0.6) ops.push(lab.berth(["network", "rm", nets[Math.floor(rnd() * nets.length)]!], opts));
      if (earlier.length) ops.push(lab.berth(["rm", "-f", earlier[Math.floor(rnd() * earlier.length)]!], opts));
      return ops;
    };
    // Calibration: how long one round takes uncut; kills then fall anywhere in that time.
    const t1 = performance.now();
    await Promise.all(await round("cal"));
    const roundMs = performance.now() - t1;
    t.diagnostic(`one round of operations takes ${roundMs.toFixed(0)} ms uncut`);
    for (let i = 0; i < OPS_ROUNDS; i++) {
      const ops = await round(i);
      const delay = Math.floor(rnd() * roundMs);
      killedAt.push(delay);
      await new Promise((r) => setTimeout(r, delay));
      await lab.killBerthd();
      for (const r of await Promise.all(ops)) r.code === 0 ? outcomes.ok++ : outcomes.failed++;
      await lab.startBerthd();
      const { running } = await assertConverged(lab, `after kill #${i + 1} at ${delay} ms`, anchors, i % 3 === 2);
      // Sandboxes survive a crash in the middle of a disconnect (they are never removed here).
      const names = new Set(running.map((s) => s.Name));
      const lost = ["anchor-b", "anchor-c", "dcal", ...Array.from({ length: i + 1 }, (_, j) => `d${j}`)].filter((n) => !names.has(`/${n}`));
      assert.deepEqual(lost, [], `after kill #${i + 1} at ${delay} ms: sandboxes that stopped running`);
    }
    t.diagnostic(`kills at ${killedAt.join(", ")} ms; operations: ${outcomes.ok} completed, ${outcomes.failed} cut off`);
    // Everything still works, and goes without a trace.
    await lab.berthOk(["network", "create", "-o", "com.docker.network.bridge.name=cbrfinal", "cnetfinal"]);
    await lab.berthOk(["run", "-d", "--name", "final", "--network", "cnetfinal", "--", "sleep", MARKER]);
    await lab.berthOk(["network", "connect", "crashnet", "final"]);
    await lab.berthOk(["network", "disconnect", "cnetfinal", "final"]);
    await assertConverged(lab, "at the end", anchors, true);
    const all = psJson(await lab.berthOk(["ps", "-a", "--format", "json"]));
    await lab.berthOk(["rm", "-f", ...all.map((s) => s["Names"]!)]);
    const left = (await getJson<NetworkJson[]>(lab, "/networks")).filter((n) => n.Name.startsWith("cnet") || n.Name === "crashnet");
    for (const n of left) await lab.berthOk(["network", "rm", n.Name]);
    assert.deepEqual((await linksIn(lab, lab.hostNsPath)).filter((n) => /^(berth0|berth-|bv|cbr)/.test(n)), ["berth0"]);
    assert.deepEqual(readdirSync(join(lab.execRoot, "netns")), []);
    assert.deepEqual(sleepers(lab), []);
    assert.ok(!lab.berthdLog().includes("changed without being marked"), "every changed record was marked for the store");
  });
});

test("restart: a missing endpoint and one a connect left half-made are rebuilt; the sandbox survives", async (t) => {
  await withCrashLab(t, "cp", async ({ lab, anchors }) => {
    await lab.berthOk(["run", "-d", "--name", "two", "--network", "crashnet", "--", "sleep", MARKER]);
    await lab.berthOk(["network", "connect", "bridge", "two"]);
    const before = await getJson<SandboxJson>(lab, "/containers/two/json");
    const ns = before.NetworkSettings.SandboxKey;
    const onCrashnet = before.NetworkSettings.Networks["crashnet"]!;
    const onBridge = before.NetworkSettings.Networks["bridge"]!;
    await lab.stopBerthd();
    // Missing: the veth on crashnet is gone (both ends).
    await lab.inNsOk(lab.hostNsPath, ["ip", "link", "del", `bv${onCrashnet.EndpointID.slice(0, 12)}`]);
    // Half-made: the record says a connect to bridge was under way; its address never came.
    const file = join(lab.dataRoot, "store", "sandboxes", `${before.Id}.json`);
    const rec = JSON.parse(readFileSync(file, "utf8")) as { endpoints: Record<string, { pending?: string; ifName: string }> };
    const ep = rec.endpoints[onBridge.NetworkID]!;
    ep.pending = "attach";
    writeFileSync(file, JSON.stringify(rec));
    await lab.inNsOk(ns, ["ip", "addr", "flush", "dev", ep.ifName]);
    const logFrom = lab.berthdLog().length;
    await lab.startBerthd();
    const log = lab.berthdLog().slice(logFrom);
    assert.match(log, /sandbox two: endpoint on crashnet rebuilt \(its interface bv[0-9a-f]{12} was gone\)/);
    assert.match(log, /sandbox two: endpoint on bridge rebuilt \(a connect was cut off while building it\)/);
    const after = await getJson<SandboxJson>(lab, "/containers/two/json");
    assert.equal(after.State.Pid, before.State.Pid, "the same process: adopted, not restarted");
    assert.equal(after.NetworkSettings.Networks["crashnet"]!.IPAddress, onCrashnet.IPAddress);
    assert.equal(after.NetworkSettings.Networks["bridge"]!.IPAddress, onBridge.IPAddress);
    await assertConverged(lab, "after the repair", anchors, true);
    assert.ok(await lab.ping(ns, anchors["bridge"]!), "two reaches anchor-b on bridge");
    assert.ok(await lab.ping(ns, anchors["crashnet"]!), "two reaches anchor-c on crashnet");
    assert.ok(!lab.berthdLog().includes("changed without being marked"), "every changed record was marked for the store");
  });
});
