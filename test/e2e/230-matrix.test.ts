// S12-S15 through berthd and the CLI: a reachability matrix over a topology with ICC on and off
// networks, an internal network, isolated networks, a sandbox attached to two networks and a
// link on the default bridge under `berthd --icc=false`. Every sandbox runs a TCP peer server
// on port 80; every sandbox connects to every address of every other one, and the result must
// equal the expected matrix. Then: published ports work from outside and through the host
// with ICC off, the host reaches every sandbox, outbound works except from the internal
// network, and `-p` on an internal network is ignored.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { OUTSIDE_IP, withLab } from "./lab.js";
import { inspect } from "./foundation.js";
import { assertBlocked, assertReaches, HOST_IP, portLines, reachAll, runServer, type Target } from "./publish-helpers.js";

interface Sb {
  name: string;
  nets: string[];
  flags: string[];
  listen: number[];
}

// icc per network; "bridge" is the default bridge, ICC off by berthd --icc=false.
const ICC: Record<string, boolean> = { bridge: false, iccon: true, iccoff: false, intern: true, iso: true };
const SANDBOXES: Sb[] = [
  { name: "b1", nets: ["bridge"], flags: ["-p", "8080:80", "--expose", "80"], listen: [80, 81] },
  { name: "b2", nets: ["bridge"], flags: [], listen: [80] },
  { name: "b3", nets: ["bridge"], flags: ["--link", "b1:web"], listen: [80] },
  { name: "n1", nets: ["iccon"], flags: [], listen: [80] },
  { name: "n2", nets: ["iccon"], flags: [], listen: [80] },
  { name: "f1", nets: ["iccoff"], flags: ["-p", "8081:80"], listen: [80] },
  { name: "f2", nets: ["iccoff"], flags: [], listen: [80] },
  { name: "d1", nets: ["iccon", "iccoff"], flags: [], listen: [80] },
  { name: "i1", nets: ["intern"], flags: ["-p", "8090:80"], listen: [80] },
  { name: "i2", nets: ["intern"], flags: [], listen: [80] },
  { name: "s1", nets: ["iso"], flags: [], listen: [80] },
];
// Links on the default bridge with ICC off: from -> to, ports the target exposes.
const LINKS: Array<{ from: string; to: string; ports: number[] }> = [{ from: "b3", to: "b1", ports: [80] }];

function expected(src: Sb, dst: Sb, dstNet: string, port: number): boolean {
  if (!src.nets.includes(dstNet)) return false; // isolation: nothing is forwarded between networks
  if (ICC[dstNet]) return true;
  return LINKS.some((l) => l.from === src.name && l.to === dst.name && l.ports.includes(port));
}

test("S12-S15 reachability matrix: ICC on/off, internal, isolation, dual-attached, link; published and host paths", async () => {
  await withLab("p230", { berthdArgs: ["--icc=false"] }, async (lab) => {
    await lab.berthOk(["network", "create", "iccon"]);
    await lab.berthOk(["network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "iccoff"]);
    await lab.berthOk(["network", "create", "--internal", "intern"]);
    await lab.berthOk(["network", "create", "iso"]);

    for (const sb of SANDBOXES) {
      const flags = [...sb.nets.flatMap((n) => ["--network", n]), ...sb.flags];
      await runServer(lab, sb.name, flags, sb.listen.map((port) => ({ proto: "tcp" as const, port })));
    }

    // Addresses of every sandbox on each of its networks.
    const addr: Record<string, Record<string, string>> = {};
    const ns: Record<string, string> = {};
    for (const sb of SANDBOXES) {
      const j = await inspect(lab, sb.name);
      addr[sb.name] = {};
      for (const n of sb.nets) {
        const ip = j.NetworkSettings.Networks[n]?.IPAddress;
        assert.ok(ip, `${sb.name} has no address on ${n}`);
        addr[sb.name]![n] = ip;
      }
      ns[sb.name] = await lab.sandboxNs(sb.name);
    }

    // The matrix: every sandbox to every address of every other sandbox, port 80 (and b1:81).
    const want: string[] = [];
    const got: string[] = [];
    const peers: string[] = [];
    const probes = await Promise.all(
      SANDBOXES.map(async (src) => {
        const targets: Array<Target & { dst: Sb; net: string }> = [];
        for (const dst of SANDBOXES) {
          if (dst === src) continue;
          for (const net of dst.nets) for (const port of dst.listen) targets.push({ ip: addr[dst.name]![net]!, port, dst, net });
        }
        const res = await reachAll(lab, ns[src.name]!, targets.map(({ ip, port }) => ({ ip, port })));
        return targets.map((t, i) => ({ src, t, r: res[i]! }));
      }),
    );
    for (const { src, t, r } of probes.flat()) {
      const label = `${src.name} -> ${t.dst.name}@${t.net}:${t.port}`;
      want.push(`${label} ${expected(src, t.dst, t.net, t.port) ? "yes" : "no"}`);
      got.push(`${label} ${r.ok ? "yes" : "no"}`);
      if (r.ok && r.peer !== addr[src.name]![t.net]) peers.push(`${label}: seen as ${r.peer}`);
    }
    const diff = got.filter((g, i) => g !== want[i]);
    assert.deepEqual(diff, [], `reachability differs from the expected matrix (got):\n  ${diff.join("\n  ")}`);
    assert.deepEqual(peers, [], "inside a network the target sees the source's own address");
    // The matrix is not trivially all-yes or all-no.
    assert.ok(want.some((w) => w.endsWith("yes")) && want.some((w) => w.endsWith("no")));

    // S15: the link's environment and /etc/hosts line in b3.
    const b1ip = addr["b1"]!["bridge"]!;
    // (berth exec runs with the CLI's environment, so read the sandbox process's own.)
    const b3pid = (await inspect(lab, "b3")).State.Pid;
    const env = readFileSync(`/proc/${b3pid}/environ`, "utf8").split("\0").join("\n");
    assert.match(env, new RegExp(`^WEB_PORT_80_TCP=tcp://${b1ip.replace(/\./g, "\\.")}:80$`, "m"), env);
    assert.match(env, new RegExp(`^WEB_PORT_80_TCP_ADDR=${b1ip.replace(/\./g, "\\.")}$`, "m"));
    assert.match(env, /^WEB_PORT_80_TCP_PORT=80$/m);
    assert.match(env, /^WEB_PORT_80_TCP_PROTO=tcp$/m);
    assert.match(env, /^WEB_NAME=\/b3\/web$/m);
    const hosts = await lab.berthOk(["exec", "b3", "--", "cat", "/etc/hosts"]);
    assert.match(hosts, new RegExp(`^${b1ip.replace(/\./g, "\\.")}\\s+web\\s+[0-9a-f]{12}\\s+b1$`, "m"), hosts);

    // S14: published ports still work with ICC off, from outside and through the host address
    // from a sandbox of the same (ICC off) network.
    await assertReaches(lab, "outside -> b1 (default bridge, ICC off) 8080", lab.outsideNsPath, "tcp", HOST_IP, 8080, OUTSIDE_IP);
    await assertReaches(lab, "outside -> f1 (iccoff) 8081", lab.outsideNsPath, "tcp", HOST_IP, 8081, OUTSIDE_IP);
    await assertReaches(lab, "b2 -> hostIP:8080 (b1, ICC off)", ns["b2"]!, "tcp", HOST_IP, 8080);
    await assertReaches(lab, "f2 -> hostIP:8081 (f1, ICC off)", ns["f2"]!, "tcp", HOST_IP, 8081);
    await assertReaches(lab, "n1 -> hostIP:8081 (another network, through the host)", ns["n1"]!, "tcp", HOST_IP, 8081);
    await assertBlocked(lab, "i2 (internal) -> hostIP:8081: nothing leaves an internal network", ns["i2"]!, "tcp", HOST_IP, 8081);

    // The host reaches every sandbox on every address (not forwarded, so never filtered).
    const hostTargets = SANDBOXES.flatMap((sb) => sb.nets.map((n) => ({ ip: addr[sb.name]![n]!, port: 80, label: `${sb.name}@${n}` })));
    const fromHost = await reachAll(lab, lab.hostNsPath, hostTargets);
    const hostMisses = fromHost.map((r, i) => (r.ok ? "" : `${hostTargets[i]!.label} (${r.error})`)).filter(Boolean);
    assert.deepEqual(hostMisses, [], "the host must reach every sandbox");

    // Outbound: every non-internal sandbox reaches the outside (masqueraded); internal ones do not.
    const srv = await lab.outsideServer({ proto: "tcp", port: 9000 });
    const outbound = await Promise.all(SANDBOXES.map(async (sb) => [sb, (await reachAll(lab, ns[sb.name]!, [{ ip: OUTSIDE_IP, port: srv.port }]))[0]!] as const));
    for (const [sb, r] of outbound) {
      const internal = sb.nets.every((n) => n === "intern");
      assert.equal(r.ok, !internal, `${sb.name} -> outside: ${r.ok ? "reached" : r.error}, want ${internal ? "blocked (internal)" : "reached"}`);
      if (r.ok) assert.equal(r.peer, HOST_IP, `${sb.name} -> outside is masqueraded`);
    }

    // S12: -p on an internal network is ignored.
    assert.deepEqual(await portLines(lab, "i1"), [], "an internal sandbox publishes nothing");
    await assertBlocked(lab, "outside -> 8090 (i1, internal)", lab.outsideNsPath, "tcp", HOST_IP, 8090);
    await assertBlocked(lab, "host 127.0.0.1:8090 (i1, internal)", lab.hostNsPath, "tcp", "127.0.0.1", 8090);
    const ps = await lab.berthOk(["ps"]);
    assert.doesNotMatch(ps, /8090/, ps);
  });
});
