// Rolling update of a service across hosts: `berth service update web -e VERSION=2` on one host
// replaces every replica wherever it runs (two on h1, one on h2), one at a time cluster-wide (a
// token in etcd), the new one in rotation on every host before the next old one leaves. A client
// on h3 (no replica) connecting to the VIP without pause sees no failed connection, h3's VIP map
// never holds fewer than K-P replicas, and the update ends with every replica on the new spec.
// Then a second update with a delay: the host holding the update token dies during its delay;
// its lease takes the token, the other host goes on, and every slot ends on the newest spec.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Cluster, eventually, withCluster } from "./cluster-lab.js";
import { ipOn } from "./foundation.js";
import { fixturePath, type Lab } from "./lab.js";
import { addrsOn, localOf, type TaskRow } from "./svc-helpers.js";
import { clusterReplicaCmd } from "./cluster-svc-helpers.js";

interface PsRow extends TaskRow {
  Node: string;
}

interface Conn {
  t: number;
  ok: boolean;
  local: string;
  error?: string;
}

async function ps(lab: Lab, svc: string): Promise<PsRow[]> {
  const r = await lab.berth(["service", "ps", svc, "--format", "json"]);
  if (r.code !== 0) return [];
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as PsRow);
}

function waitHealthy(lab: Lab, svc: string, n: number, pred: (rows: PsRow[]) => boolean = () => true): Promise<PsRow[]> {
  return eventually(`${svc}: ${n} healthy replicas as ${lab.name} sees them`, 90_000, async () => {
    const rows = await ps(lab, svc);
    return rows.length === n && rows.every((t) => /^Running .*\(healthy\)/.test(t.CurrentState)) && pred(rows) ? rows : undefined;
  });
}

/** The replica addresses in the host's VIP map (the VIP itself left out). */
async function backendsInMap(h: Lab, vip: string): Promise<Set<string>> {
  const out = await h.inHostOk(["nft", "-j", "list", "map", "inet", "berth", "vip-backends"]);
  const els = (JSON.parse(out) as { nftables: Array<{ map?: { elem?: unknown[] } }> }).nftables.find((o) => o.map)?.map?.elem ?? [];
  return new Set(JSON.stringify(els).match(/"10\.\d+\.\d+\.\d+"/g)?.filter((a) => a !== `"${vip}"`) ?? []);
}

/** The rolling-update tokens in etcd: key -> holder. */
async function tokens(c: Cluster): Promise<Map<string, string>> {
  const r = await c.etcdctl(["get", "--prefix", "/berth/updating/"]);
  const lines = r.stdout.trim().split("\n").filter(Boolean);
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) out.set(lines[i]!, (JSON.parse(lines[i + 1]!) as { node: string }).node);
  return out;
}

test("services across hosts: rolling update, no failed connection from a third host; the token holder dies", async (t) => {
  await withCluster("mu", { hosts: 3 }, async (c) => {
    const [h1, h2, h3] = c.hosts as [Lab, Lab, Lab];
    await h1.berthOk(["network", "create", "-d", "overlay", "--attachable", "--subnet", "10.76.0.0/24", "ov"]);
    for (const h of [h2, h3]) await eventually(`ov on ${h.name}`, 10_000, async () => ((await h.berth(["network", "inspect", "ov"])).code === 0 ? true : undefined));
    await h1.berthOk(["service", "create", "--name", "web", "--replicas", "3", "--network", "ov", "--constraint", "node.name!=h3", "-e", "VERSION=1",
      "--health-tcp", "80", "--health-interval", "300ms", "--", ...clusterReplicaCmd(c, 80)]);
    const before = await waitHealthy(h3, "web", 3);
    assert.deepEqual(before.map((r) => r.Node).sort(), ["h1", "h1", "h2"], `spread over h1 and h2: ${JSON.stringify(before)}`);
    const [si] = await h3.berthJson<Array<{ Endpoint: { VirtualIPs: Array<{ Addr: string }> } }>>(["service", "inspect", "web"]);
    const vip = si!.Endpoint.VirtualIPs[0]!.Addr.split("/")[0]!;

    await h3.berthOk(["run", "-d", "--name", "cl", "--network", "ov", "--", "sleep", "600"]);
    const ns = await h3.sandboxNs("cl");
    await ipOn(h3, "cl", "ov");
    const oldAddrs = addrsOn(before, "ov");
    await eventually("the VIP from h3 reaches all three replicas", 30_000, async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const r = await h3.tcpConnect(ns, vip, 80, { timeoutMs: 3000 });
        if (r.ok) seen.add(localOf(r));
      }
      return seen.size === 3 ? true : undefined;
    });

    // The loop runs until stopped; h3's VIP map is sampled throughout.
    const loop = await h3.spawnIn(ns, [process.execPath, fixturePath("conn-loop"), vip, "80", "--workers", "4", "--ms", "170000", "--timeout", "3000"], { name: "loop-update", readyPattern: /^ready$/m });
    let minInMap = Infinity;
    let samples = 0;
    let updating = true;
    let maxTokens = 0;
    let tokenSamples = 0;
    const sampler = (async () => {
      while (updating) {
        minInMap = Math.min(minInMap, (await backendsInMap(h3, vip)).size);
        samples++;
      }
    })();
    const tokenSampler = (async () => {
      while (updating) {
        const n = (await tokens(c)).size;
        maxTokens = Math.max(maxTokens, n);
        if (n) tokenSamples++;
      }
    })();
    const t0 = Date.now();
    await h2.berthOk(["service", "update", "web", "-e", "VERSION=2"]);
    const updateMs = Date.now() - t0;
    const tDone = Date.now();
    updating = false;
    await sampler;
    await tokenSampler;
    const after = await waitHealthy(h3, "web", 3, (rows) => rows.every((r) => !before.some((b) => b.ID === r.ID)));
    // Connections made after the update returned, for a while, then the loop stops.
    await new Promise((r) => setTimeout(r, 2000));
    await loop.stop("SIGTERM");
    const conns = loop.log().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Conn);

    t.diagnostic(`update ${updateMs} ms; ${conns.length} connections, ${conns.filter((x) => !x.ok).length} failed; h3's VIP map: min ${minInMap} replicas over ${samples} samples`);
    assert.ok(conns.length > 50, `the loop ran throughout (${conns.length} connections in ${updateMs} ms of update)`);
    assert.deepEqual(conns.filter((x) => !x.ok), [], "no connection through the VIP from h3 failed during the update");
    assert.ok(samples > 3, `h3's VIP map was sampled during the update (${samples})`);
    assert.ok(tokenSamples > 0 && maxTokens === 1, `one update token at a time cluster-wide (max ${maxTokens}, seen in ${tokenSamples} samples)`);
    assert.equal((await tokens(c)).size, 0, "every token given back");
    assert.ok(minInMap >= 2, `never fewer than K-P=2 replicas in h3's VIP map (min ${minInMap})`);
    assert.deepEqual(after.map((r) => r.Node).sort(), ["h1", "h1", "h2"], `the slots stayed on their hosts: ${JSON.stringify(after)}`);
    const newAddrs = addrsOn(after, "ov");
    const late = new Set(conns.filter((x) => x.t > tDone + 1000).map((x) => x.local));
    assert.deepEqual([...late].sort(), [...newAddrs].sort(), `after the update the VIP leads to the new replicas only (old: ${oldAddrs.join(" ")})`);
    const byNode = { h1, h2, h3 } as Record<string, Lab>;
    for (const t of after) {
      const [j] = await byNode[t.Node]!.berthJson<Array<{ Config: { Env: string[] } }>>(["inspect", t.Name]);
      assert.ok(j!.Config.Env.includes("VERSION=2") && !j!.Config.Env.includes("VERSION=1"), `${t.Name} on ${t.Node} runs the new spec: ${JSON.stringify(j!.Config.Env)}`);
    }
    // Every host's view: the update is over, the spec says VERSION=2.
    for (const h of [h1, h2, h3]) {
      const [s] = await h.berthJson<Array<{ UpdateStatus?: unknown; Spec: { TaskTemplate: { ContainerSpec: { Env: string[] } } } }>>(["service", "inspect", "web"]);
      assert.equal(s!.UpdateStatus, undefined, `${h.name}: no update in progress`);
      assert.ok(s!.Spec.TaskTemplate.ContainerSpec.Env.includes("VERSION=2"), `${h.name}: ${JSON.stringify(s!.Spec.TaskTemplate.ContainerSpec.Env)}`);
    }
    // service logs on h2: its replica's output; for h1's replicas, where they run.
    const logs = await h2.berthOk(["service", "logs", "web"]);
    const h2Slot = after.find((r) => r.Node === "h2")!.Name;
    assert.match(logs, new RegExp(`^${h2Slot.replace(".", "\\.")}@h2 +\\| ready 80$`, "m"), logs);
    for (const r of after.filter((x) => x.Node === "h1")) assert.ok(logs.includes(`${r.Name}@h1    | (runs on host h1: its output is kept there`), logs);
    // Each host replaced its own slots, one batch of one each time (parallelism 1).
    const replaced = [h1, h2].flatMap((h) => h.berthdLog().split("\n").filter((l) => /service web: rolling update, slots \d+ replaced/.test(l)));
    assert.equal(replaced.length, 3, `three batches of one:\n${replaced.join("\n")}`);

    // ---- the token holder dies during its --update-delay -----------------------------------
    const upd = h3.berth(["service", "update", "web", "-e", "VERSION=3", "--update-delay", "15s"]);
    const holder = await eventually("a host holds the update token", 30_000, async () => [...(await tokens(c)).values()][0]);
    assert.match(holder, /^h[12]$/);
    const survivorNode = holder === "h1" ? "h2" : "h1";
    const survivor = holder === "h1" ? h2 : h1;
    const killedAt = Date.now();
    await c.killHost(Number(holder.slice(1)) - 1);
    const next = await eventually(`${survivorNode} takes the token after ${holder}'s lease expired`, 40_000, async () =>
      [...(await tokens(c)).values()].includes(survivorNode) ? Date.now() : undefined,
    );
    t.diagnostic(`token holder ${holder} killed: ${survivorNode} took the token ${next - killedAt} ms later (lease TTL 5 s)`);
    const done = await upd;
    assert.equal(done.code, 0, `update from h3 with ${holder} dead: ${done.stderr}`);
    const last = await waitHealthy(h3, "web", 3, (rows) => rows.every((r) => r.Node === survivorNode));
    for (const r of last) {
      const [j] = await survivor.berthJson<Array<{ Config: { Env: string[] } }>>(["inspect", r.Name]);
      assert.ok(j!.Config.Env.includes("VERSION=3"), `${r.Name} on ${survivorNode} runs the newest spec: ${JSON.stringify(j!.Config.Env)}`);
    }
  });
});
