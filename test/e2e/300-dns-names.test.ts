// S2, S22: names through berthd's embedded DNS, asked with dig from inside sandboxes.
//
// On a user network: sandbox names, --network-alias, name.network, the short id, --hostname and
// link aliases (the linking sandbox only) resolve; AAAA of a local name is NOERROR with no data;
// PTR of a sandbox address is name.network; an alias shared by two sandboxes gives both
// addresses, rotated; a sandbox on another network learns nothing of this one; the default
// bridge has no names; external names are forwarded (UDP and TCP) to the lab's fake upstream;
// unknown names get NXDOMAIN fast; an --internal network never forwards; --dns servers are used
// for that sandbox's forwarding; the outside cannot use the resolver.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_RECORDS, fixturePath, HOST_IP, WEB_IP, withLab } from "./lab.js";
import { inspect, ipOn, netInspect } from "./foundation.js";
import { assertA, catIn, dig, digIn, show } from "./names-helpers.js";

const SLEEP = ["sleep", "600"];

test("S2/S22 embedded DNS through berthd: local names, forwarding, isolation", async () => {
  const records = { ...DEFAULT_RECORDS, "leak-check.example.test": ["192.0.2.90"] };
  await withLab("d300", { upstreamDns: records }, async (lab) => {
    await lab.berthOk(["network", "create", "my-net"]);
    const net = await netInspect(lab, "my-net");
    const gw = net.IPAM.Config[0]?.Gateway;
    assert.ok(gw, `my-net has a gateway: ${JSON.stringify(net.IPAM)}`);

    await lab.berthOk(["run", "-d", "--name", "web1", "--network", "my-net", "--network-alias", "web-alias", "--hostname", "webhost", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "client", "--network", "my-net", "--link", "web1:lweb", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "third", "--network", "my-net", "--", ...SLEEP]);
    const web1 = await inspect(lab, "web1");
    const web1Ip = web1.NetworkSettings.Networks["my-net"]!.IPAddress;
    const shortId = web1.Id.slice(0, 12);

    // The client's resolv.conf points at berth's resolver on the gateway.
    const rc = await catIn(lab, "client", "/etc/resolv.conf");
    assert.match(rc, new RegExp(`^nameserver ${gw.replace(/\./g, "\\.")}$`, "m"), rc);

    // ---- A records of every kind of local name -------------------------------------------
    for (const name of ["web1", "web-alias", "web1.my-net", shortId, "webhost", "WEB1"]) {
      assertA(await dig(lab, "client", gw, name), [web1Ip], `A ${name} from client`);
    }
    // The link alias is the linking sandbox's own name.
    assertA(await dig(lab, "client", gw, "lweb"), [web1Ip], "A lweb (link alias) from client");
    const lwebThird = await dig(lab, "third", gw, "lweb");
    assert.ok(!lwebThird.answers.includes(web1Ip), `third must not see client's link alias: ${show(lwebThird)}`);
    assert.equal(lwebThird.status, "NXDOMAIN", show(lwebThird));

    // The system resolver of the sandbox (resolv.conf -> gateway) finds names too.
    const getent = await lab.berth(["exec", "client", "--", "getent", "hosts", "web-alias"], { timeoutMs: 15_000 });
    assert.equal(getent.code, 0, getent.stderr);
    assert.match(getent.stdout, new RegExp(`^${web1Ip.replace(/\./g, "\\.")}\\s`), getent.stdout);

    // ---- AAAA: the name exists, no IPv6 record -------------------------------------------
    const aaaa = await dig(lab, "client", gw, "web1", { type: "AAAA" });
    assert.equal(aaaa.status, "NOERROR", show(aaaa));
    assert.deepEqual(aaaa.answers, [], show(aaaa));

    // ---- PTR ----------------------------------------------------------------------------
    const ptr = await dig(lab, "client", gw, web1Ip, { reverse: true });
    assert.equal(ptr.status, "NOERROR", show(ptr));
    assert.deepEqual(ptr.answers, ["web1.my-net."], show(ptr));

    // ---- two sandboxes, one alias: both addresses, rotated ------------------------------
    await lab.berthOk(["run", "-d", "--name", "svc1", "--network", "my-net", "--network-alias", "svc", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "svc2", "--network", "my-net", "--network-alias", "svc", "--", ...SLEEP]);
    const svcIps = [await ipOn(lab, "svc1", "my-net"), await ipOn(lab, "svc2", "my-net")];
    const firsts = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const d = await dig(lab, "client", gw, "svc");
      assertA(d, svcIps, `A svc (query ${i + 1})`);
      firsts.add(d.answers[0]!);
    }
    assert.equal(firsts.size, 2, `the first address of svc must rotate across queries; firsts=${[...firsts]}`);

    // ---- external names: forwarded to the fake upstream, UDP and TCP ---------------------
    assertA(await dig(lab, "client", gw, "www.example.test"), [WEB_IP], "www.example.test over UDP");
    assertA(await dig(lab, "client", gw, "example.test", { tcp: true }), [WEB_IP], "example.test over TCP");
    const q = lab.upstreamDns!.queries();
    assert.ok(q.some((x) => x.name === "www.example.test" && x.proto === "udp"), `upstream saw www.example.test over udp: ${JSON.stringify(q)}`);
    assert.ok(q.some((x) => x.name === "example.test" && x.proto === "tcp"), `upstream saw example.test over tcp: ${JSON.stringify(q)}`);
    // Local names are never asked upstream (lweb was, from third: it is not third's name).
    assert.ok(!q.some((x) => /^(web1|web-alias|svc|webhost)$/.test(x.name)), `local names went upstream: ${JSON.stringify(q)}`);

    // ---- unknown names: NXDOMAIN, quickly -----------------------------------------------
    for (const name of ["nosuch.example.test", "nosuchname"]) {
      const t0 = Date.now();
      const d = await dig(lab, "client", gw, name, { timeS: 3 });
      assert.equal(d.status, "NXDOMAIN", `${name}: ${show(d)}`);
      assert.ok(d.ms !== undefined && d.ms < 1000, `${name}: NXDOMAIN took ${d.ms} ms (dig), ${Date.now() - t0} ms with berth exec`);
    }

    // ---- --dns: this sandbox's queries are forwarded to its own servers ------------------
    // A second fake resolver on the outside's 192.0.2.80 knows a name the lab's upstream does not.
    const altLog = join(lab.dir, "alt-dns-queries.log");
    await lab.spawnIn(lab.outsideNsPath, [process.execPath, fixturePath("fake-upstream-dns"), "--bind", WEB_IP, "--port", "53", "--log", altLog, "--record", "alt-only.example.test=192.0.2.99"], {
      name: "alt-dns",
      readyPattern: /^ready /m,
    });
    await lab.berthOk(["run", "-d", "--name", "withdns", "--network", "my-net", "--dns", WEB_IP, "--", ...SLEEP]);
    const rcDns = await catIn(lab, "withdns", "/etc/resolv.conf");
    assert.match(rcDns, new RegExp(`^nameserver ${gw.replace(/\./g, "\\.")}$`, "m"), `--dns is not written on a user network:\n${rcDns}`);
    assert.doesNotMatch(rcDns, /192\.0\.2\.80/, rcDns);
    assertA(await dig(lab, "withdns", gw, "alt-only.example.test"), ["192.0.2.99"], "--dns upstream used for withdns");
    assertA(await dig(lab, "withdns", gw, "web1"), [web1Ip], "local names still local with --dns");
    const other = await dig(lab, "client", gw, "alt-only.example.test");
    assert.equal(other.status, "NXDOMAIN", `client (no --dns) is forwarded to the lab's upstream: ${show(other)}`);

    // ---- another network learns nothing of my-net ---------------------------------------
    await lab.berthOk(["network", "create", "other-net"]);
    const ogw = (await netInspect(lab, "other-net")).IPAM.Config[0]!.Gateway!;
    await lab.berthOk(["run", "-d", "--name", "o1", "--network", "other-net", "--", ...SLEEP]);
    for (const server of [ogw, gw]) {
      for (const name of ["web1", "web1.my-net", "web-alias", shortId]) {
        const d = await dig(lab, "o1", server, name);
        assert.ok(!d.answers.includes(web1Ip), `o1 learned web1's address asking ${server} for ${name}: ${show(d)}`);
      }
      const p = await dig(lab, "o1", server, web1Ip, { reverse: true });
      assert.ok(!p.answers.some((a) => /web1/.test(a)), `o1 got a PTR for web1 from ${server}: ${show(p)}`);
    }
    assertA(await dig(lab, "o1", ogw, "o1"), [await ipOn(lab, "o1", "other-net")], "o1 resolves itself on other-net");

    // ---- default bridge: no names -------------------------------------------------------
    await lab.berthOk(["run", "-d", "--name", "b1", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "b2", "--", ...SLEEP]);
    const b1Ip = await ipOn(lab, "b1", "bridge");
    const gb = await lab.berth(["exec", "b2", "--", "getent", "hosts", "b1"], { timeoutMs: 15_000 });
    assert.notEqual(gb.code, 0, `b2 resolved b1 on the default bridge: ${gb.stdout}`);
    const viaBridgeGw = await dig(lab, "b2", "172.17.0.1", "b1");
    assert.ok(!viaBridgeGw.answers.includes(b1Ip), show(viaBridgeGw));
    assert.notEqual(viaBridgeGw.status, "NOERROR", `no DNS server on the default bridge's gateway: ${show(viaBridgeGw)}`);
    const brc = await catIn(lab, "b2", "/etc/resolv.conf");
    assert.match(brc, /^nameserver 192\.0\.2\.2$/m, `the default bridge copies the host's resolvers:\n${brc}`);

    // ---- internal network: names resolve, nothing is forwarded --------------------------
    await lab.berthOk(["network", "create", "--internal", "int-net"]);
    const igw = (await netInspect(lab, "int-net")).IPAM.Config[0]!.Gateway!;
    await lab.berthOk(["run", "-d", "--name", "i1", "--network", "int-net", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "i2", "--network", "int-net", "--", ...SLEEP]);
    assertA(await dig(lab, "i1", igw, "i2"), [await ipOn(lab, "i2", "int-net")], "i2 from i1 on the internal network");
    for (const tcp of [false, true]) {
      const d = await dig(lab, "i1", igw, "leak-check.example.test", { tcp, timeS: 3 });
      assert.ok(["NXDOMAIN", "REFUSED"].includes(d.status), `internal network, ${tcp ? "tcp" : "udp"}: want NXDOMAIN or REFUSED: ${show(d)}`);
      assert.ok(d.ms !== undefined && d.ms < 1000, `internal network answers at once: ${show(d)}`);
    }
    assert.ok(!lab.upstreamDns!.queries().some((x) => x.name === "leak-check.example.test"), "an internal network's query reached the upstream");

    // ---- the outside cannot use the resolver --------------------------------------------
    const subnet = net.IPAM.Config[0]!.Subnet!;
    await lab.inOutsideOk(["ip", "route", "add", subnet, "via", HOST_IP]);
    for (const tcp of [false, true]) {
      for (const name of ["web1", "www.example.test"]) {
        const before = lab.upstreamDns!.queries().length;
        const d = await digIn(lab, lab.outsideNsPath, gw, name, { tcp });
        assert.ok(["TIMEOUT", "REFUSED", "ERROR"].includes(d.status), `outside asked ${gw} for ${name} (${tcp ? "tcp" : "udp"}): ${show(d)}`);
        assert.deepEqual(d.answers, [], show(d));
        assert.equal(lab.upstreamDns!.queries().length, before, "a query from the outside was forwarded upstream");
      }
    }
    // The route is real (so the checks above could fail): the outside reaches the gateway address.
    assert.ok(await lab.ping(lab.outsideNsPath, gw), `the outside pings ${gw} through the route`);
    // The host itself may ask (its source is the gateway address).
    assertA(await digIn(lab, lab.hostNsPath, gw, "web1"), [web1Ip], "the host itself may ask");
  });
});
