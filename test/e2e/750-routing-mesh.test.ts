// S27 the routing mesh: a service across hosts published with `-p 8080:80` answers on port 8080
// of every host, also of a host that runs none of its replicas, spreading new flows over the
// replicas on the other hosts, and each replica sees the client's own address (no SNAT: the
// reply goes back through the host that DNATed it, chosen by the conntrack mark of its bridge
// MAC). `-p published=8081,target=80,mode=local` keeps a host's flows on its own replicas while it
// has any. berthd restarted on a host: nothing moves. A host that dies: its replica is placed
// again and the port keeps answering.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, hostUnderlayIp, withCluster } from "./cluster-lab.js";
import { clusterReplicaCmd } from "./cluster-svc-helpers.js";
import type { Lab } from "./lab.js";
import { localOf, peerOf } from "./svc-helpers.js";

interface PsRow {
  Name: string;
  Node: string;
  CurrentState: string;
  Addresses: string;
}

async function ps(lab: Lab, svc: string): Promise<PsRow[]> {
  const r = await lab.berth(["service", "ps", svc, "--format", "json"]);
  return r.code === 0 ? r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as PsRow) : [];
}

function healthy(lab: Lab, svc: string, n: number, pred: (r: PsRow[]) => boolean, timeoutMs = 60_000): Promise<PsRow[]> {
  return eventually(`${svc}: ${n} healthy replicas`, timeoutMs, async () => {
    const rows = await ps(lab, svc);
    return rows.length === n && rows.every((t) => /\(healthy\)/.test(t.CurrentState)) && pred(rows) ? rows : undefined;
  });
}

const addr = (r: PsRow) => r.Addresses.split("=")[1]!.split("/")[0]!;

test("S27 routing mesh: every host answers a published port, the replica sees the client, mode=local, host death", async () => {
  // Long enough that h1's berthd restart below (3-5 s on a loaded machine: reconcile, then the
  // cluster join) ends within the old lease, as the restart step asserts nothing was replaced.
  const ttl = 8;
  await withCluster("ms", { hosts: 3, leaseTtl: ttl }, async (c) => {
    const hosts = c.hosts as [Lab, Lab, Lab];
    const [h1, h2, h3] = hosts;
    const client = `/run/netns/${c.underlayNs}`;
    const clientIp = "10.99.0.254";
    /** Connects `tries` times to HOST:PORT from the underlay; the replica addresses that answered. */
    const hit = async (host: number, port: number, tries: number): Promise<string[]> => {
      const seen: string[] = [];
      for (let i = 0; i < tries; i++) {
        const r = await h1.tcpConnect(client, hostUnderlayIp(host), port, { timeoutMs: 3000 });
        assert.ok(r.ok, `h${host}:${port} from the underlay: ${JSON.stringify(r)}`);
        assert.equal(peerOf(r), clientIp, `via h${host}: the replica sees the client's own address: ${r.data}`);
        seen.push(localOf(r));
      }
      return seen;
    };
    await h1.berthOk(["network", "create", "-d", "overlay", "--attachable", "--subnet", "10.72.0.0/24", "ov"]);
    for (const h of [h2, h3]) await eventually(`ov on ${h.name}`, 10_000, async () => ((await h.berth(["network", "inspect", "ov"])).code === 0 ? true : undefined));
    const health = ["--health-tcp", "80", "--health-interval", "300ms"];
    await h3.berthOk(["service", "create", "--name", "web", "--replicas", "2", "--network", "ov", "--constraint", "node.name!=h3", "-p", "8080:80", ...health, "--", ...clusterReplicaCmd(c, 80)]);
    const rows = await healthy(h3, "web", 2, (r) => r.every((t) => t.Node !== "h3"));
    const replicas = rows.map(addr).sort();

    // h3 runs no replica: its port 8080 reaches both (on h1 and h2), the client's address kept.
    const viaH3 = await eventually("h3:8080 reaches both replicas", 20_000, async () => {
      const seen = await hit(3, 8080, 6);
      return new Set(seen).size === 2 ? seen : undefined;
    });
    assert.deepEqual([...new Set(viaH3)].sort(), replicas);
    for (const h of [1, 2]) assert.deepEqual([...new Set(await hit(h, 8080, 6))].sort(), replicas, `h${h}:8080 spreads over both replicas`);
    // The VIP of a published service, from a sandbox on h3: replies of flows h3 routed to the
    // replicas also go back through h3 (their mark), where conntrack undoes the VIP's DNAT.
    await h3.berthOk(["run", "-d", "--name", "cl3", "--network", "ov", "--", "sleep", "600"]);
    const cl3 = await h3.sandboxNs("cl3");
    const cl3Ip = (await h3.berthJson<Array<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>>(["inspect", "cl3"]))[0]!.NetworkSettings.Networks["ov"]!.IPAddress;
    const [wi] = await h3.berthJson<Array<{ Endpoint: { VirtualIPs: Array<{ Addr: string }> } }>>(["service", "inspect", "web"]);
    const vip = wi!.Endpoint.VirtualIPs[0]!.Addr.split("/")[0]!;
    const viaVip = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await h3.tcpConnect(cl3, vip, 80, { timeoutMs: 3000 });
      assert.ok(r.ok, `VIP ${vip}:80 from h3: ${JSON.stringify(r)}`);
      assert.equal(peerOf(r), cl3Ip, r.data);
      viaVip.add(localOf(r));
    }
    assert.deepEqual([...viaVip].sort(), replicas, "the VIP from h3 reaches both replicas");
    await h3.berthOk(["rm", "-f", "cl3"]);
    const inspect = await h2.berthJson<Array<{ Endpoint: { Ports: Array<{ PublishMode: string }> } }>>(["service", "inspect", "web"]);
    assert.equal(inspect[0]!.Endpoint.Ports[0]!.PublishMode, "ingress");

    // mode=local: h1 and h2 keep their flows on their own replica; h3 (none) spreads over both.
    await h2.berthOk(["service", "create", "--name", "loc", "--replicas", "2", "--network", "ov", "--constraint", "node.name!=h3", "-p", "published=8081,target=80,mode=local", ...health, "--", ...clusterReplicaCmd(c, 80)]);
    const loc = await healthy(h1, "loc", 2, (r) => r.every((t) => t.Node !== "h3"));
    for (const h of [1, 2]) {
      const own = addr(loc.find((t) => t.Node === `h${h}`)!);
      await eventually(`h${h}:8081 only to its own replica`, 20_000, async () => ((await hit(h, 8081, 4)).every((a) => a === own) ? true : undefined));
    }
    await eventually("h3:8081 (no local replica) to both", 20_000, async () => (new Set(await hit(3, 8081, 6)).size === 2 ? true : undefined));
    const li = await h3.berthJson<Array<{ Endpoint: { Ports: Array<{ PublishMode: string }> } }>>(["service", "inspect", "loc"]);
    assert.equal(li[0]!.Endpoint.Ports[0]!.PublishMode, "local");
    await h1.berthOk(["service", "rm", "loc"]);

    // berthd on h1 restarts (its replica keeps running): past the old lease's TTL, the replica,
    // its record and h1's mesh address are on the new lease: h3:8080 still reaches both replicas,
    // the same ones (nothing was replaced), with the client's address.
    await h1.restartBerthd();
    await new Promise((r) => setTimeout(r, (ttl + 2) * 1000));
    await eventually("h3:8080 reaches both replicas after h1's berthd restarted", 20_000, async () => {
      const seen = await hit(3, 8080, 6);
      return [...new Set(seen)].sort().join() === replicas.join() ? true : undefined;
    });
    assert.deepEqual((await healthy(h3, "web", 2, () => true)).map(addr).sort(), replicas, "the same replicas after the restart");

    // h2 dies: its replica of web is placed on h1 (h3 is excluded); h3:8080 keeps answering.
    await c.killHost(1);
    const after = await healthy(h1, "web", 2, (r) => r.every((t) => t.Node === "h1"), 30_000 + ttl * 1000);
    const live = after.map(addr).sort();
    await eventually("h3:8080 reaches the replicas on h1 after h2 died", 20_000, async () => {
      const seen = await hit(3, 8080, 6);
      return [...new Set(seen)].sort().join() === live.join() ? true : undefined;
    });
    await h3.berthOk(["service", "rm", "web"]);
  });
});
