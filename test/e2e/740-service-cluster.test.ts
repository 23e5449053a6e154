// S27 services across hosts: `berth service create --network OVERLAY --replicas 3` on one host
// spreads the replicas over the three hosts (service ps shows the node from any host); the VIP
// answers from a sandbox on every host and reaches the replicas on all hosts with the client's
// own address; DNS (NAME -> VIP, tasks.NAME -> every replica) and the catalog list every
// replica wherever it runs; scale and rm work from any host; --constraint node.name==N pins.
// etcd down: the data path and ps keep working, a create fails naming etcd.
// The leader host dies: another host leads, the dead host's replica is placed on a live host and
// the VIP keeps answering, from the live replicas only.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, withCluster } from "./cluster-lab.js";
import { ipOn } from "./foundation.js";
import type { Lab } from "./lab.js";
import { dig, show } from "./names-helpers.js";
import { addrsOn, localOf, peerOf, type TaskRow } from "./svc-helpers.js";
import { clusterReplicaCmd } from "./cluster-svc-helpers.js";

const SLEEP = ["sleep", "600"];

interface PsRow extends TaskRow {
  Node: string;
}

async function ps(lab: Lab, svc: string): Promise<PsRow[]> {
  const r = await lab.berth(["service", "ps", svc, "--format", "json"]);
  if (r.code !== 0) return [];
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as PsRow);
}

/** Waits until `svc` has `n` running healthy replicas as `lab` sees them; the rows. */
function waitRunning(lab: Lab, svc: string, n: number, timeoutMs = 60_000, pred: (rows: PsRow[]) => boolean = () => true): Promise<PsRow[]> {
  return eventually(`${svc}: ${n} healthy replicas as ${lab.name} sees them`, timeoutMs, async () => {
    const rows = await ps(lab, svc);
    const ok = rows.length === n && rows.every((t) => /^Running .*\(healthy\)/.test(t.CurrentState)) && pred(rows);
    return ok ? rows : undefined;
  });
}

/** Connects to VIP:80 from `ns` until every replica in `want` answered (the peer is checked). */
async function reachesAll(lab: Lab, ns: string, vip: string, want: string[], clientIp: string, what: string): Promise<void> {
  const seen = new Set<string>();
  for (let i = 0; i < 4 * want.length && seen.size < want.length; i++) {
    const r = await lab.tcpConnect(ns, vip, 80, { timeoutMs: 3000 });
    assert.ok(r.ok, `${what}: tcp ${vip}:80: ${JSON.stringify(r)}`);
    assert.equal(peerOf(r), clientIp, `${what}: the replica sees the client's own address: ${r.data}`);
    seen.add(localOf(r));
  }
  if (seen.size !== want.length) {
    const map = (await lab.inHost(["nft", "list", "map", "inet", "berth", "vip-backends"])).stdout;
    assert.deepEqual([...seen].sort(), [...want].sort(), `${what}: new flows reach every replica; the host's VIP map:\n${map}`);
  }
}

test("S27 services across hosts: spread, VIP from every host, DNS/catalog, scale, constraint, host death", async () => {
  const ttl = 4;
  await withCluster("ms", { hosts: 3, leaseTtl: ttl }, async (c) => {
    const hosts = c.hosts as [Lab, Lab, Lab];
    const [h1, h2, h3] = hosts;
    await h1.berthOk(["network", "create", "-d", "overlay", "--attachable", "--subnet", "10.71.0.0/24", "ov"]);
    for (const h of [h2, h3]) await eventually(`ov on ${h.name}`, 10_000, async () => ((await h.berth(["network", "inspect", "ov"])).code === 0 ? true : undefined));

    // Created on h2; spread over the three hosts.
    const id = (await h2.berthOk(["service", "create", "--name", "web", "--replicas", "3", "--network", "ov", "-p", "80", "--health-tcp", "80", "--health-interval", "300ms", "--", ...clusterReplicaCmd(c, 80)])).trim();
    assert.match(id, /^[0-9a-z]{25}$/);
    const rows = await waitRunning(h1, "web", 3);
    assert.deepEqual(rows.map((r) => r.Node).sort(), ["h1", "h2", "h3"], `one replica per host: ${JSON.stringify(rows)}`);
    assert.deepEqual(rows.map((r) => r.Name).sort(), ["web.1", "web.2", "web.3"]);
    const replicas = addrsOn(rows, "ov").sort();
    assert.equal(new Set(replicas).size, 3, JSON.stringify(rows));
    for (const h of [h2, h3]) await waitRunning(h, "web", 3);
    const ls = await h3.berthOk(["service", "ls"]);
    assert.match(ls, /web\s+replicated\s+3\/3/, ls);
    const vips = await Promise.all(hosts.map(async (h) => {
      const [si] = await h.berthJson<Array<{ Endpoint: { VirtualIPs: Array<{ Addr: string }> } }>>(["service", "inspect", "web"]);
      return si!.Endpoint.VirtualIPs[0]!.Addr;
    }));
    assert.equal(new Set(vips).size, 1, `one VIP cluster-wide: ${vips.join(" ")}`);
    const vip = vips[0]!.split("/")[0]!;
    assert.ok(!replicas.includes(vip) && vip !== "10.71.0.1", `the VIP is an address of its own: ${vip}`);

    // The VIP from a sandbox on every host reaches the replicas on all hosts.
    const clients: Array<{ h: Lab; ns: string; ip: string }> = [];
    for (const [i, h] of hosts.entries()) {
      await h.berthOk(["run", "-d", "--name", `cl${i + 1}`, "--network", "ov", "--", ...SLEEP]);
      clients.push({ h, ns: await h.sandboxNs(`cl${i + 1}`), ip: await ipOn(h, `cl${i + 1}`, "ov") });
    }
    for (const [i, cl] of clients.entries()) await reachesAll(cl.h, cl.ns, vip, replicas, cl.ip, `VIP from h${i + 1}`);

    // Names and the catalog on a host list every replica, wherever it runs.
    const d = await eventually("web and tasks.web on h3", 10_000, async () => {
      const a = await dig(h3, "cl3", "10.71.0.1", "web");
      const t = await dig(h3, "cl3", "10.71.0.1", "tasks.web");
      return a.answers.join() === vip && [...t.answers].sort().join() === replicas.join() ? { a, t } : undefined;
    });
    assert.equal(d.a.status, "NOERROR", show(d.a));
    const srv = await dig(h1, "cl1", "10.71.0.1", "_web._tcp.web", { type: "SRV" });
    assert.equal(srv.answers.length, 3, `an SRV record per replica, on every host: ${show(srv)}`);
    const cat = await h3.api("GET", "/v1/catalog/service/web");
    const entries = cat.json<Array<{ ServiceID: string; ServiceAddress: string; ServiceMeta: Record<string, string> }>>();
    assert.deepEqual(entries.map((e) => e.ServiceAddress).sort(), replicas, cat.text);
    assert.deepEqual(entries.map((e) => e.ServiceID).sort(), ["web.1", "web.2", "web.3"]);
    const health = (await h1.api("GET", "/v1/health/service/web?passing")).json<unknown[]>();
    assert.equal(health.length, 3, "all three pass on h1's catalog");

    // --constraint pins; scale and rm from any host.
    await h1.berthOk(["service", "create", "--name", "pin", "--replicas", "2", "--network", "ov", "--constraint", "node.name==h3", "--", ...SLEEP]);
    const pinned = await eventually("pin: 2 replicas on h3", 45_000, async () => {
      const r = await ps(h2, "pin");
      return r.length === 2 && r.every((t) => t.Node === "h3" && /^Running/.test(t.CurrentState)) ? r : undefined;
    });
    assert.equal(pinned.length, 2);
    // Two hosts create the same name at once: one service, the other gets a conflict; and one
    // host places (the leader), whatever the races of the campaign.
    const race = await Promise.all([h1, h3].map((h) => h.berth(["service", "create", "--name", "twin", "--network", "ov", "--", ...SLEEP])));
    assert.equal(race.filter((r) => r.code === 0).length, 1, `exactly one create wins: ${race.map((r) => r.stderr.trim()).join(" | ")}`);
    assert.match(race.find((r) => r.code !== 0)!.stderr, /service twin already exists/);
    await h2.berthOk(["service", "rm", "twin"]);
    const leaders = hosts.filter((h) => h.berthdLog().includes("now places the replicas"));
    assert.equal(leaders.length, 1, `one leader: ${leaders.map((h) => h.name).join(" ")}`);
    await h2.berthOk(["service", "create", "--name", "nowhere", "--network", "ov", "--constraint", "node.name==h9", "--", ...SLEEP]);
    const stuck = await eventually("nowhere: pending, no suitable node", 20_000, async () => {
      const out = (await h3.berth(["service", "ps", "nowhere"])).stdout;
      return /nowhere\.1\s.*Pending.*no suitable node \(node\.name==h9\)/.test(out) ? out : undefined;
    });
    assert.ok(stuck);
    await h3.berthOk(["service", "rm", "nowhere"]);
    const bad = await h1.berth(["service", "create", "--name", "bad", "--constraint", "node.label==x", "--network", "ov", "--", ...SLEEP]);
    assert.match(bad.stderr, /invalid constraint "node\.label==x"/);
    await h3.berthOk(["service", "scale", "pin=1"]);
    await eventually("pin scaled to 1 (seen from h1)", 30_000, async () => ((await ps(h1, "pin")).length === 1 ? true : undefined));
    await h2.berthOk(["service", "rm", "pin"]);
    await eventually("pin gone everywhere", 30_000, async () => {
      for (const h of hosts) if ((await h.berth(["service", "inspect", "pin"])).code === 0) return undefined;
      for (const h of hosts) if ((await h.berthOk(["ps", "-a", "--format", "{{.Names}}"])).includes("pin.")) return undefined;
      return true;
    });

    // etcd unreachable (all members stopped): the VIP keeps reaching every replica from what is
    // known, service ps answers from it, and a create fails within a bounded time, naming etcd.
    for (const i of [1, 2, 3]) await c.killMember(i);
    await reachesAll(h1, clients[0]!.ns, vip, replicas, clients[0]!.ip, "VIP from h1 with etcd down");
    assert.equal((await ps(h2, "web")).length, 3, "service ps with etcd down");
    const t0 = Date.now();
    const down = await h2.berth(["service", "create", "--name", "late", "--network", "ov", "--", ...SLEEP], { timeoutMs: 30_000 });
    assert.notEqual(down.code, 0);
    assert.match(down.stderr, /cluster store unreachable \(etcd http:\/\/10\.99\.0\.11:2379/);
    assert.ok(Date.now() - t0 < 20_000, `create with etcd down took ${Date.now() - t0} ms`);
    for (const i of [1, 2, 3]) await c.startMember(i);
    await c.waitEtcdHealthy();
    await waitRunning(h1, "web", 3, 30_000 + ttl * 1000);

    // The host that places (the leader) dies, or h2 if h1 leads: its replica is placed again on
    // a live host by the next leader; the VIP keeps answering from the two live hosts, reaching
    // only live replicas.
    const leader = (await c.etcdctl(["get", "--print-value-only", "/berth/leader"])).stdout.trim();
    assert.match(leader, /^h[123]$/, `a leader is elected: ${leader}`);
    const victim = leader === "h1" ? 1 : Number(leader.slice(1)) - 1;
    const dead = `h${victim + 1}`;
    const alive = [0, 1, 2].filter((i) => i !== victim);
    const lost = rows.find((r) => r.Node === dead)!;
    await c.killHost(victim);
    const after = await waitRunning(hosts[alive[0]!]!, "web", 3, 30_000 + ttl * 1000, (r) => r.every((t) => t.Node !== dead));
    assert.ok(after.some((t) => t.Name === lost.Name), `slot of ${lost.Name} runs again: ${JSON.stringify(after)}`);
    const newLeader = (await c.etcdctl(["get", "--print-value-only", "/berth/leader"])).stdout.trim();
    assert.ok(newLeader !== dead && /^h[123]$/.test(newLeader), `another host leads: ${newLeader}`);
    const live = addrsOn(after, "ov").sort();
    assert.equal(live.length, 3);
    for (const i of alive) {
      const cl = clients[i]!;
      await eventually(`VIP from ${cl.h.name} after ${dead} died`, 20_000, async () => {
        await reachesAll(cl.h, cl.ns, vip, live, cl.ip, `VIP from ${cl.h.name} after ${dead} died`);
        return true;
      });
    }
    await hosts[alive[1]!]!.berthOk(["service", "rm", "web"]);
    await eventually("web gone on the live hosts", 30_000, async () => {
      for (const i of alive) if ((await hosts[i]!.berthOk(["ps", "-a", "--format", "{{.Names}}"])).includes("web.")) return undefined;
      return true;
    });
    for (const i of alive) await hosts[i]!.berthOk(["rm", "-f", `cl${i + 1}`]);
  });
});
