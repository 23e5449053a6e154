// S2 (addresses; name resolution is covered by the DNS suites): user-defined bridges take the
// next free /16 from the default pools, honour --subnet/--gateway/--ip-range, and --ip.

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { addrsIn, inspect, netInspect, pingFrom, webRoot, wget } from "./foundation.js";

test("S2 user bridge: next free /16, custom subnet with ip-range, --ip honoured", async () => {
  await withLab("s2", {}, async (lab) => {
    // Next free /16 after the default bridge's 172.17.0.0/16.
    const id = (await lab.berthOk(["network", "create", "-d", "bridge", "my-net"])).trim();
    assert.match(id, /^[0-9a-f]{64}$/, "network create prints the full id");
    const net = await netInspect(lab, "my-net");
    assert.equal(net.Id, id);
    assert.equal(net.Driver, "bridge");
    assert.deepEqual(net.IPAM.Config, [{ Subnet: "172.18.0.0/16", Gateway: "172.18.0.1" }]);
    // Its bridge exists in berthd's namespace with the gateway address, named after the id.
    const bridgeName = `berth-${id.slice(0, 9)}`;
    const hostAddrs = await addrsIn(lab, lab.hostNsPath);
    assert.deepEqual(hostAddrs[bridgeName], ["172.18.0.1/16"], JSON.stringify(hostAddrs));

    // A second one takes the next /16.
    await lab.berthOk(["network", "create", "second"]);
    assert.equal((await netInspect(lab, "second")).IPAM.Config[0]?.Subnet, "172.19.0.0/16");

    // Sandboxes on my-net: .2 and .3, and they reach each other by IP.
    const www = webRoot(lab, "u1", "hello from u1\n");
    await lab.berthOk(["run", "-d", "--name", "u1", "--network", "my-net", "--", "busybox", "httpd", "-f", "-p", "80", "-h", www]);
    await lab.berthOk(["run", "-d", "--name", "u2", "--network", "my-net", "--", "sleep", "600"]);
    const u1 = await inspect(lab, "u1");
    const u2 = await inspect(lab, "u2");
    assert.equal(u1.NetworkSettings.Networks["my-net"]?.IPAddress, "172.18.0.2");
    assert.equal(u2.NetworkSettings.Networks["my-net"]?.IPAddress, "172.18.0.3");
    assert.equal(u1.NetworkSettings.Networks["my-net"]?.Gateway, "172.18.0.1");
    assert.equal(u1.NetworkSettings.Networks["bridge"], undefined, "u1 is not on the default bridge");
    assert.deepEqual((await addrsIn(lab, await lab.sandboxNs("u2")))["eth0"], ["172.18.0.3/16"]);
    assert.ok(await pingFrom(lab, "u2", "172.18.0.2"), "u2 pings u1");
    const got = await wget(lab, "u2", "http://172.18.0.2/");
    assert.equal(got.stdout, "hello from u1\n", got.stderr);

    // Custom subnet, gateway and ip-range: addresses come from the range.
    await lab.berthOk(["network", "create", "--subnet", "172.81.0.0/16", "--gateway", "172.81.0.1", "--ip-range", "172.81.5.0/24", "custom"]);
    const custom = await netInspect(lab, "custom");
    assert.deepEqual(custom.IPAM.Config, [{ Subnet: "172.81.0.0/16", Gateway: "172.81.0.1", IPRange: "172.81.5.0/24" }]);
    await lab.berthOk(["run", "-d", "--name", "r1", "--network", "custom", "--", "busybox", "httpd", "-f", "-p", "80", "-h", www]);
    await lab.berthOk(["run", "-d", "--name", "r2", "--network", "custom", "--", "sleep", "600"]);
    const r1ip = (await inspect(lab, "r1")).NetworkSettings.Networks["custom"]?.IPAddress ?? "";
    const r2ip = (await inspect(lab, "r2")).NetworkSettings.Networks["custom"]?.IPAddress ?? "";
    // Docker allocates from the start of the range, .0 included (it is not the subnet's network address).
    for (const ip of [r1ip, r2ip]) assert.match(ip, /^172\.81\.5\.\d+$/, `address ${ip} is not inside --ip-range 172.81.5.0/24`);
    assert.notEqual(r1ip, r2ip);
    const r2ns = await lab.sandboxNs("r2");
    assert.deepEqual((await addrsIn(lab, r2ns))["eth0"], [`${r2ip}/16`]);
    assert.match(await lab.inNsOk(r2ns, ["ip", "route", "show", "default"]), /^default via 172\.81\.0\.1 dev eth0/m);
    assert.equal((await wget(lab, "r2", `http://${r1ip}/`)).stdout, "hello from u1\n");

    // --ip on a user subnet (outside the ip-range but inside the subnet, as Docker allows).
    await lab.berthOk(["run", "-d", "--name", "fixed", "--network", "custom", "--ip", "172.81.9.9", "--", "sleep", "600"]);
    const fixed = await inspect(lab, "fixed");
    assert.equal(fixed.NetworkSettings.Networks["custom"]?.IPAddress, "172.81.9.9");
    assert.deepEqual(fixed.NetworkSettings.Networks["custom"]?.IPAMConfig, { IPv4Address: "172.81.9.9" });
    assert.deepEqual((await addrsIn(lab, await lab.sandboxNs("fixed")))["eth0"], ["172.81.9.9/16"]);
    assert.equal((await wget(lab, "fixed", `http://${r1ip}/`)).stdout, "hello from u1\n");
    assert.ok(await pingFrom(lab, "r1", "172.81.9.9"), "r1 pings the fixed address");

    // The same --ip again is refused while it is in use, and nothing is left running for it.
    const dup = await lab.berth(["run", "-d", "--name", "dup", "--network", "custom", "--ip", "172.81.9.9", "--", "sleep", "600"]);
    assert.equal(dup.code, 125, `a second sandbox on the same --ip: ${dup.stdout}${dup.stderr}`);
    assert.match(dup.stderr, /172\.81\.9\.9/);
    assert.ok(await pingFrom(lab, "r1", "172.81.9.9"), "the first owner of the address is untouched");

    // A network with an ip-range keeps handing out range addresses after a removal.
    await lab.berthOk(["rm", "-f", "r2"]);
    await lab.berthOk(["run", "-d", "--name", "r3", "--network", "custom", "--", "sleep", "600"]);
    assert.match((await inspect(lab, "r3")).NetworkSettings.Networks["custom"]?.IPAddress ?? "", /^172\.81\.5\.\d+$/);
  });
});
