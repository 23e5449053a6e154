// S7-S9 through berthd and the CLI: every publishing form, `berth port`, reachability from the
// outside, from the host (127.0.0.1 and its own address, no proxy process), from other
// sandboxes through a host address, hairpin; a 127.0.0.1 binding is not reachable from the
// outside even when the outside routes 127.0.0.0/8 to the host.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { OUTSIDE_IP, withLab } from "./lab.js";
import { ipOn } from "./foundation.js";
import { assertBlocked, assertReaches, ephemeralRange, HOST_IP, hostPortOf, portLines, runServer } from "./publish-helpers.js";

test("S7-S9 publishing: -p forms, berth port, outside/host/sandbox/hairpin reachability, 127.0.0.1 stays local", async () => {
  await withLab("p200", {}, async (lab) => {
    const out = lab.outsideNsPath;
    const host = lab.hostNsPath;
    const [ephLo, ephHi] = await ephemeralRange(lab);

    // S7: -p 8080:80
    await runServer(lab, "c1", ["-p", "8080:80"], [{ proto: "http", port: 80 }]);
    assert.deepEqual(await portLines(lab, "c1"), ["80/tcp -> 0.0.0.0:8080"]);
    assert.equal((await lab.berthOk(["port", "c1", "80"])).trim(), "0.0.0.0:8080");
    assert.equal((await lab.berthOk(["port", "c1", "80/tcp"])).trim(), "0.0.0.0:8080");
    const noSuch = await lab.berth(["port", "c1", "81"]);
    assert.notEqual(noSuch.code, 0, "berth port c1 81 must fail: nothing published");
    // The outside reaches hostIP:8080 and the sandbox sees the client's own address.
    await assertReaches(lab, "outside -> c1 via 8080", out, "http", HOST_IP, 8080, OUTSIDE_IP);

    // S8: 127.0.0.1 binding, udp, a range, a free port, -P from the ephemeral range, IP::C.
    await runServer(lab, "c2", ["-p", "127.0.0.1:8081:80"], [{ proto: "http", port: 80 }]);
    assert.deepEqual(await portLines(lab, "c2"), ["80/tcp -> 127.0.0.1:8081"]);
    await runServer(lab, "c3", ["-p", "8082:53/udp"], [{ proto: "udp", port: 53 }]);
    assert.deepEqual(await portLines(lab, "c3"), ["53/udp -> 0.0.0.0:8082"]);
    await runServer(lab, "c4", ["-p", "9000-9002:9000-9002"], [9000, 9001, 9002].map((port) => ({ proto: "tcp" as const, port })));
    assert.deepEqual(await portLines(lab, "c4"), ["9000/tcp -> 0.0.0.0:9000", "9001/tcp -> 0.0.0.0:9001", "9002/tcp -> 0.0.0.0:9002"]);
    await runServer(lab, "c5", ["-p", "80"], [{ proto: "http", port: 80 }]);
    const c5 = await hostPortOf(lab, "c5", "80");
    assert.equal(c5.ip, "0.0.0.0");
    assert.ok(c5.port >= ephLo && c5.port <= ephHi, `-p 80 took ${c5.port}, outside the ephemeral range ${ephLo}-${ephHi}`);
    await runServer(lab, "c6", ["-P", "--expose", "7000", "--expose", "7001/udp"], [{ proto: "tcp", port: 7000 }, { proto: "udp", port: 7001 }]);
    const c6t = await hostPortOf(lab, "c6", "7000/tcp");
    const c6u = await hostPortOf(lab, "c6", "7001/udp");
    for (const p of [c6t, c6u]) {
      assert.equal(p.ip, "0.0.0.0");
      assert.ok(p.port >= ephLo && p.port <= ephHi, `-P took ${p.port}, outside the ephemeral range ${ephLo}-${ephHi}`);
    }
    assert.notEqual(c6t.port, c5.port, "-P must not reuse the free tcp port given to c5");
    await runServer(lab, "c7", ["-p", `${HOST_IP}::80`], [{ proto: "http", port: 80 }]);
    const c7 = await hostPortOf(lab, "c7", "80");
    assert.equal(c7.ip, HOST_IP);
    assert.ok(c7.port >= ephLo && c7.port <= ephHi, `IP::80 took ${c7.port}`);

    // `berth ps` shows the mappings too.
    const ps = await lab.berthOk(["ps"]);
    assert.match(ps, /0\.0\.0\.0:8080->80\/tcp/, ps);
    assert.match(ps, /127\.0\.0\.1:8081->80\/tcp/, ps);

    // From the outside.
    await assertReaches(lab, "outside -> c3 udp", out, "udp", HOST_IP, 8082, OUTSIDE_IP);
    for (const p of [9000, 9001, 9002]) await assertReaches(lab, `outside -> c4 range ${p}`, out, "tcp", HOST_IP, p, OUTSIDE_IP);
    await assertReaches(lab, "outside -> c5 free port", out, "http", HOST_IP, c5.port);
    await assertReaches(lab, "outside -> c6 -P tcp", out, "tcp", HOST_IP, c6t.port);
    await assertReaches(lab, "outside -> c6 -P udp", out, "udp", HOST_IP, c6u.port);
    await assertReaches(lab, "outside -> c7 IP::C", out, "http", HOST_IP, c7.port);
    await assertBlocked(lab, "outside -> c2 (bound to 127.0.0.1) via the host address", out, "http", HOST_IP, 8081);
    await assertBlocked(lab, "outside -> 8083 (nothing published)", out, "tcp", HOST_IP, 8083);

    // S9: from the host itself, on 127.0.0.1 and its own address, with no process listening.
    const listeners = await lab.inHostOk(["ss", "-Hltnu"]);
    assert.doesNotMatch(listeners, /:(8080|8081|8082|9000|9001|9002)\s/, `no proxy process may listen on published ports in the host:\n${listeners}`);
    await assertReaches(lab, "host 127.0.0.1:8080", host, "http", "127.0.0.1", 8080);
    await assertReaches(lab, "host hostIP:8080", host, "http", HOST_IP, 8080);
    await assertReaches(lab, "host 127.0.0.1:8081 (127.0.0.1 binding)", host, "http", "127.0.0.1", 8081);
    await assertBlocked(lab, "host hostIP:8081 (bound to 127.0.0.1 only)", host, "http", HOST_IP, 8081);
    await assertReaches(lab, "host 127.0.0.1:8082 udp", host, "udp", "127.0.0.1", 8082);
    await assertReaches(lab, "host hostIP:c7 (IP::C)", host, "http", HOST_IP, c7.port);
    await assertBlocked(lab, "host 127.0.0.1:c7 (bound to the host address only)", host, "http", "127.0.0.1", c7.port);

    // Another sandbox on the same bridge, and one on another network, through host addresses.
    await lab.berthOk(["run", "-d", "--name", "d1", "--", "sleep", "600"]);
    await lab.berthOk(["network", "create", "other"]);
    await lab.berthOk(["run", "-d", "--name", "d2", "--network", "other", "--", "sleep", "600"]);
    const d1 = await lab.sandboxNs("d1");
    const d2 = await lab.sandboxNs("d2");
    const d1ip = await ipOn(lab, "d1", "bridge");
    await assertReaches(lab, "d1 (same bridge) -> hostIP:8080 keeps its own address", d1, "http", HOST_IP, 8080, d1ip);
    await assertReaches(lab, "d1 -> gateway 172.17.0.1:8080", d1, "http", "172.17.0.1", 8080);
    await assertReaches(lab, "d1 -> hostIP:8082 udp", d1, "udp", HOST_IP, 8082);
    await assertReaches(lab, "d2 (other network) -> hostIP:8080", d2, "http", HOST_IP, 8080);
    await assertBlocked(lab, "d1 -> 127.0.0.1:8081 is its own loopback", d1, "http", "127.0.0.1", 8081);
    // With the CLI, as a user would: busybox wget from inside d1.
    const w = await lab.berth(["exec", "d1", "--", "timeout", "3", "busybox", "wget", "-qO-", `http://${HOST_IP}:8080/`], { timeoutMs: 10_000 });
    assert.equal(w.code, 0, `wget from d1: ${w.stderr}`);
    assert.match(w.stdout, /"localPort":80\b/);

    // Hairpin: c1 reaches its own published port through the host address (and sees its gateway).
    const c1 = await lab.sandboxNs("c1");
    await assertReaches(lab, "hairpin c1 -> hostIP:8080", c1, "http", HOST_IP, 8080, "172.17.0.1");
    await assertReaches(lab, "hairpin c4 -> hostIP:9001", await lab.sandboxNs("c4"), "tcp", HOST_IP, 9001, "172.17.0.1");

    // The 127.0.0.1 binding is unreachable from the outside even when it routes 127.0.0.0/8 to
    // us. Make the outside do so (its local 127/8 route removed), count arriving packets.
    await lab.inOutsideOk(["sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1"]);
    await lab.inOutsideOk(["sysctl", "-q", "-w", "net.ipv4.conf.eth0.route_localnet=1"]);
    await lab.inOutsideOk(["ip", "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local"]);
    await lab.inOutsideOk(["ip", "route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local"]);
    await lab.inOutsideOk(["ip", "route", "add", "127.0.0.0/8", "via", HOST_IP, "dev", "eth0"]);
    await lab.inHostOk(["nft", "-f", "-"], { input: "table inet p200probe {\n chain pre {\n type filter hook prerouting priority -400;\n iifname \"eth0\" ip daddr 127.0.0.0/8 counter\n }\n}\n" });
    await assertBlocked(lab, "outside -> 127.0.0.1:8081 routed to the host", out, "http", "127.0.0.1", 8081);
    await assertBlocked(lab, "outside -> 127.0.0.1:8080 routed to the host", out, "http", "127.0.0.1", 8080);
    const counter = await lab.inHostOk(["nft", "list", "chain", "inet", "p200probe", "pre"]);
    const packets = Number(/counter packets (\d+)/.exec(counter)?.[1] ?? 0);
    assert.ok(packets > 0, `the packets to 127.0.0.1 must arrive at the host (so this check can fail):\n${counter}`);
    await lab.inHostOk(["nft", "delete", "table", "inet", "p200probe"]);

    // A UDP client that keeps its source port (DNS forwarders, syslog, statsd...) reaches the
    // sandbox that publishes the port now, not a replaced one: stale conntrack entries would
    // keep DNATing it to the old address.
    const udpFromFixedPort = async () => {
      const r = await lab.inOutside(["timeout", "3", "socat", "-T1", "-", `UDP4:${HOST_IP}:8082,sourceport=40053,reuseaddr`], { input: "hi\n" });
      return r.stdout;
    };
    const hitsOf = (name: string) => {
      try {
        return readFileSync(join(lab.dir, `sb-${name}-udp-53.hits`), "utf8");
      } catch {
        return "";
      }
    };
    const c3old = await ipOn(lab, "c3", "bridge");
    assert.match(await udpFromFixedPort(), /"peerPort":40053/, "c3 answers the fixed-port client");
    await lab.berthOk(["rm", "-f", "c3"]);
    await lab.berthOk(["run", "-d", "--name", "filler", "--", "sleep", "600"]); // takes c3's old address
    await runServer(lab, "c3new", ["-p", "8082:53/udp"], [{ proto: "udp", port: 53 }]);
    assert.notEqual(await ipOn(lab, "c3new", "bridge"), c3old, "the new sandbox has another address");
    const again = await udpFromFixedPort();
    assert.match(again, /"peerPort":40053/, `the same client (same source port) must now reach c3new, got: ${JSON.stringify(again)}`);
    assert.match(hitsOf("c3new"), /"peerPort":40053/, "c3new got the datagram");

    // Removing a sandbox unpublishes its ports.
    await lab.berthOk(["rm", "-f", "c1"]);
    await assertBlocked(lab, "outside -> 8080 after rm c1", out, "http", HOST_IP, 8080);
    await assertBlocked(lab, "host 127.0.0.1:8080 after rm c1", host, "http", "127.0.0.1", 8080);
  });
});
