// S32's first half: published ports follow the network they are published through, as in
// Docker. A sandbox run on an internal network with -p has nothing published; connecting it to
// a network that can publish publishes its ports at that moment (berth port lists them, they
// answer from the outside); disconnecting unpublishes them or moves them to the next such
// network; a port taken meanwhile refuses the connect and changes nothing.

import assert from "node:assert/strict";
import { test } from "node:test";
import { OUTSIDE_IP, withLab } from "./lab.js";
import { ipOn } from "./foundation.js";
import { assertBlocked, assertReaches, HOST_IP, portLines, runServer } from "./publish-helpers.js";

const networksOf = async (lab: Parameters<Parameters<typeof withLab>[2]>[0], name: string): Promise<string[]> => {
  const info = await lab.berthJson<Array<{ NetworkSettings: { Networks: Record<string, unknown> } }>>(["inspect", name]);
  return Object.keys(info[0]!.NetworkSettings.Networks).sort();
};

test("S32 ports follow their network: connect publishes, disconnect unpublishes or moves, conflicts refuse", async () => {
  await withLab("p215", {}, async (lab) => {
    const out = lab.outsideNsPath;
    await lab.berthOk(["network", "create", "--internal", "back"]);
    await lab.berthOk(["network", "create", "front2"]);

    // Internal only: -p is ignored (Docker: `docker port` empty, nothing answers).
    await runServer(lab, "lb", ["--network", "back", "-p", "8080:80", "-p", "9090"], [{ proto: "http", port: 80 }, { proto: "http", port: 9090 }]);
    assert.deepEqual(await portLines(lab, "lb"), [], "nothing is published on an internal network");
    await assertBlocked(lab, "outside -> 8080 while lb is only on the internal network", out, "http", HOST_IP, 8080);

    // Connected to the default bridge while running: published now.
    await lab.berthOk(["network", "connect", "bridge", "lb"]);
    const lines = await portLines(lab, "lb");
    assert.equal(lines[0], "80/tcp -> 0.0.0.0:8080", lines.join("\n"));
    const dyn = Number(/^9090\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(lines[1] ?? "")?.[1]);
    assert.ok(dyn > 0, `-p 9090 gets a free host port after the connect: ${lines.join("\n")}`);
    const bridgeIp = await ipOn(lab, "lb", "bridge");
    const seen = await lab.httpGet(out, `http://${HOST_IP}:8080/`);
    assert.equal(seen.status, 200, JSON.stringify(seen));
    assert.match(seen.data, new RegExp(`"local":"${bridgeIp.replace(/\./g, "\\.")}"`), "reached through its bridge address");
    await assertReaches(lab, "outside -> 8080 after connect", out, "http", HOST_IP, 8080, OUTSIDE_IP);
    await assertReaches(lab, "outside -> the -p 9090 port after connect", out, "http", HOST_IP, dyn);
    const ps = await lab.berthOk(["ps"]);
    assert.match(ps, /0\.0\.0\.0:8080->80\/tcp/, ps);

    // Disconnected from it: unpublished (only the internal network is left).
    await lab.berthOk(["network", "disconnect", "bridge", "lb"]);
    assert.deepEqual(await portLines(lab, "lb"), [], "disconnect from the publishing network unpublishes");
    await assertBlocked(lab, "outside -> 8080 after disconnect", out, "http", HOST_IP, 8080);

    // Two networks that can publish: ports go through the first one asked for, and move to the
    // next when it is disconnected; the dynamic host port stays the same.
    await lab.berthOk(["network", "connect", "front2", "lb"]);
    await lab.berthOk(["network", "connect", "bridge", "lb"]);
    const front2Ip = await ipOn(lab, "lb", "front2");
    const viaFront2 = await lab.httpGet(out, `http://${HOST_IP}:8080/`);
    assert.match(viaFront2.data, new RegExp(`"local":"${front2Ip.replace(/\./g, "\\.")}"`), `published through front2 (connected first): ${viaFront2.data}`);
    const dyn2 = Number(/9090\/tcp -> 0\.0\.0\.0:(\d+)/.exec((await portLines(lab, "lb")).join("\n"))?.[1]);
    await lab.berthOk(["network", "disconnect", "front2", "lb"]);
    assert.equal((await portLines(lab, "lb"))[0], "80/tcp -> 0.0.0.0:8080");
    assert.match((await portLines(lab, "lb")).join("\n"), new RegExp(`9090/tcp -> 0\\.0\\.0\\.0:${dyn2}$`), "the dynamic host port is kept when ports move");
    const bridgeIp2 = await ipOn(lab, "lb", "bridge");
    const viaBridge = await lab.httpGet(out, `http://${HOST_IP}:8080/`);
    assert.match(viaBridge.data, new RegExp(`"local":"${bridgeIp2.replace(/\./g, "\\.")}"`), `moved to the bridge: ${viaBridge.data}`);
    await assertReaches(lab, "outside -> 8080 after the move", out, "http", HOST_IP, 8080, OUTSIDE_IP);

    // A second internal sandbox wants 8080 too: its connect is refused, nothing changes.
    await runServer(lab, "lb2", ["--network", "back", "-p", "8080:80"], [{ proto: "http", port: 80 }]);
    const refused = await lab.berth(["network", "connect", "bridge", "lb2"]);
    assert.notEqual(refused.code, 0, "connect must fail: 8080 is taken by lb");
    assert.match(refused.stderr, /Bind for 0\.0\.0\.0:8080 failed: port is already allocated/, refused.stderr);
    assert.deepEqual(await networksOf(lab, "lb2"), ["back"], "a refused connect leaves the sandbox as it was");
    assert.deepEqual(await portLines(lab, "lb2"), []);
    await assertReaches(lab, "outside -> 8080 still reaches lb", out, "http", HOST_IP, 8080, OUTSIDE_IP);
    assert.match((await lab.httpGet(out, `http://${HOST_IP}:8080/`)).data, new RegExp(`"local":"${bridgeIp2.replace(/\./g, "\\.")}"`));

    // Once lb lets the port go, lb2's connect publishes it.
    await lab.berthOk(["rm", "-f", "lb"]);
    await lab.berthOk(["network", "connect", "bridge", "lb2"]);
    assert.deepEqual(await portLines(lab, "lb2"), ["80/tcp -> 0.0.0.0:8080"]);
    await assertReaches(lab, "outside -> 8080 reaches lb2", out, "http", HOST_IP, 8080, OUTSIDE_IP);

    // A stopped sandbox connected while stopped publishes at its next start.
    await lab.berthOk(["run", "-d", "--name", "lb3", "--network", "back", "-p", "8081:80", "--", "sleep", "600"]);
    await lab.berthOk(["stop", "-t", "0", "lb3"]);
    await lab.berthOk(["network", "connect", "bridge", "lb3"]);
    assert.deepEqual(await portLines(lab, "lb3"), [], "a stopped sandbox publishes nothing");
    await lab.berthOk(["start", "lb3"]);
    assert.deepEqual(await portLines(lab, "lb3"), ["80/tcp -> 0.0.0.0:8081"]);
  });
});
