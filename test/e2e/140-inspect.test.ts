// S5: inspect output in Docker's JSON shape, network ls, ps (table and --format json).

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { inspect, linksIn, netInspect, psJson } from "./foundation.js";

/** The MAC of an interface inside a namespace, as the kernel has it. */
async function macIn(lab: import("./lab.js").Lab, ns: string, ifName: string): Promise<string> {
  const [l] = JSON.parse(await lab.inNsOk(ns, ["ip", "-j", "link", "show", ifName])) as Array<{ address: string }>;
  return l!.address;
}

test("S5 inspect, network inspect, network ls and ps", async () => {
  await withLab("s5", {}, async (lab) => {
    await lab.berthOk(["network", "create", "--label", "team=net", "-o", "com.docker.network.bridge.enable_icc=true", "my-net"]);
    await lab.berthOk(["run", "-d", "--name", "c1", "--network", "my-net", "--network-alias", "web", "--", "sleep", "600"]);
    await lab.berthOk(["run", "-d", "--name", "c2", "--", "sleep", "600"]);
    await lab.berthOk(["run", "-d", "--name", "c3", "--hostname", "box3", "--network", "my-net", "--", "sleep", "600"]);

    // berth inspect on a user network: per-network fields set, top-level ones empty (as Docker).
    const c1 = await inspect(lab, "c1");
    assert.match(c1.Id, /^[0-9a-f]{64}$/);
    assert.equal(c1.Name, "/c1");
    assert.equal(c1.State.Status, "running");
    assert.equal(c1.State.Running, true);
    assert.ok(c1.State.Pid > 0);
    assert.equal(c1.HostConfig.NetworkMode, "my-net");
    assert.equal(c1.Config.Hostname, c1.Id.slice(0, 12), "the hostname defaults to the short id");
    const ep = c1.NetworkSettings.Networks["my-net"];
    assert.ok(ep, JSON.stringify(c1.NetworkSettings));
    assert.deepEqual(Object.keys(c1.NetworkSettings.Networks), ["my-net"]);
    assert.equal(ep.IPAddress, "172.18.0.2");
    assert.equal(ep.IPPrefixLen, 16);
    assert.equal(ep.Gateway, "172.18.0.1");
    assert.equal(ep.MacAddress, "02:42:ac:12:00:02", "MAC derived from the IP, 02:42 + address bytes");
    assert.equal(ep.IPAMConfig, null, "IPAMConfig is null without --ip");
    assert.deepEqual(ep.Aliases, ["web", c1.Id.slice(0, 12)]);
    assert.match(ep.EndpointID, /^[0-9a-f]{64}$/);
    assert.equal(c1.NetworkSettings.IPAddress, "", "top-level IPAddress is empty off the default bridge");
    assert.equal(c1.NetworkSettings.Gateway, "");
    const c1Ns = c1.NetworkSettings.SandboxKey;
    assert.ok(c1Ns.startsWith(lab.execRoot + "/netns/"), c1Ns);
    assert.equal(await macIn(lab, c1Ns, "eth0"), ep.MacAddress, "the kernel's MAC matches inspect");
    assert.ok((await linksIn(lab, lab.hostNsPath)).includes(`bv${ep.EndpointID.slice(0, 12)}`), "host side veth is bv + endpoint id");
    const c3 = await inspect(lab, "c3");
    assert.equal(c3.Config.Hostname, "box3");
    assert.deepEqual(c3.NetworkSettings.Networks["my-net"]!.Aliases, [c3.Id.slice(0, 12), "box3"]);

    // On the default bridge the top-level fields are filled in and aliases are null.
    const c2 = await inspect(lab, "c2");
    assert.equal(c2.NetworkSettings.IPAddress, "172.17.0.2");
    assert.equal(c2.NetworkSettings.MacAddress, "02:42:ac:11:00:02");
    assert.equal(c2.NetworkSettings.Gateway, "172.17.0.1");
    assert.equal(c2.NetworkSettings.IPPrefixLen, 16);
    assert.equal(c2.NetworkSettings.Networks["bridge"]!.Aliases, null);
    assert.equal(await macIn(lab, c2.NetworkSettings.SandboxKey, "eth0"), "02:42:ac:11:00:02");

    // Several names at once; an unknown one fails with exit 1 but still prints the others.
    const both = await lab.berth(["inspect", "c1", "nosuch", "c2"]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /nosuch/);
    assert.deepEqual((JSON.parse(both.stdout) as Array<{ Name: string }>).map((j) => j.Name), ["/c1", "/c2"]);

    // berth network inspect: IPAM, Containers, Options, Labels.
    const net = await netInspect(lab, "my-net");
    assert.equal(net.Name, "my-net");
    assert.equal(net.Driver, "bridge");
    assert.equal(net.Scope, "local");
    assert.equal(net.Internal, false);
    assert.equal(net.IPAM.Driver, "default");
    assert.deepEqual(net.IPAM.Config, [{ Subnet: "172.18.0.0/16", Gateway: "172.18.0.1" }]);
    assert.deepEqual(net.Options, { "com.docker.network.bridge.enable_icc": "true" });
    assert.deepEqual(net.Labels, { team: "net" });
    assert.deepEqual(Object.keys(net.Containers).sort(), [c1.Id, c3.Id].sort());
    assert.deepEqual(net.Containers[c1.Id], { Name: "c1", EndpointID: ep.EndpointID, MacAddress: "02:42:ac:12:00:02", IPv4Address: "172.18.0.2/16", IPv6Address: "" });
    const bridge = await netInspect(lab, "bridge");
    assert.deepEqual(Object.keys(bridge.Containers), [c2.Id]);
    for (const k of ["com.docker.network.bridge.default_bridge", "com.docker.network.bridge.enable_icc", "com.docker.network.bridge.enable_ip_masquerade",
      "com.docker.network.bridge.host_binding_ipv4", "com.docker.network.bridge.name", "com.docker.network.driver.mtu"]) {
      assert.ok(k in bridge.Options, `default bridge Options lacks ${k}: ${JSON.stringify(bridge.Options)}`);
    }
    // By id prefix too.
    assert.equal((await netInspect(lab, net.Id.slice(0, 12))).Name, "my-net");

    // network ls: a table sorted by name, and one JSON object a line.
    const ls = (await lab.berthOk(["network", "ls"])).trim().split("\n");
    assert.match(ls[0]!, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\s*$/);
    const rows = ls.slice(1).map((l) => l.trim().split(/\s+/));
    assert.deepEqual(rows.map((r) => r[1]), ["bridge", "host", "my-net", "none"]);
    assert.deepEqual(rows.find((r) => r[1] === "my-net"), [net.Id.slice(0, 12), "my-net", "bridge", "local"]);
    const lsJson = psJson(await lab.berthOk(["network", "ls", "--format", "json"]));
    assert.deepEqual(lsJson.find((n) => n["Name"] === "my-net"), { ID: net.Id.slice(0, 12), Name: "my-net", Driver: "bridge", Scope: "local", Internal: false, Subnet: "172.18.0.0/16" });
    assert.deepEqual((await lab.berthOk(["network", "ls", "-q"])).trim().split("\n").length, 4);

    // ps: running only by default; -a adds stopped ones; --format json.
    await lab.berthOk(["run", "--name", "done", "--", "true"]);
    const ps = (await lab.berthOk(["ps"])).trim().split("\n");
    assert.match(ps[0]!, /^SANDBOX ID\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NETWORKS\s+NAMES\s*$/);
    assert.equal(ps.length, 4, ps.join("\n"));
    const c1Row = ps.find((l) => l.trimEnd().endsWith(" c1"));
    assert.ok(c1Row, ps.join("\n"));
    assert.ok(c1Row.startsWith(c1.Id.slice(0, 12)));
    assert.match(c1Row, /"sleep 600"/);
    assert.match(c1Row, /\bUp \d+ seconds?\b/);
    assert.match(c1Row, /\bmy-net\b/);
    assert.ok(!ps.some((l) => /\bdone\s*$/.test(l)), "an exited sandbox is not in ps");
    const all = psJson(await lab.berthOk(["ps", "-a", "--format", "json"]));
    assert.deepEqual(all.map((s) => s["Names"]).sort(), ["c1", "c2", "c3", "done"]);
    const done = all.find((s) => s["Names"] === "done")!;
    assert.equal(done["State"], "exited");
    assert.match(done["Status"]!, /^Exited \(0\) /);
    assert.deepEqual(all.find((s) => s["Names"] === "c1"), { ID: c1.Id.slice(0, 12), Names: "c1", Command: "sleep 600", State: "running", Status: all.find((s) => s["Names"] === "c1")!["Status"], Ports: "", Networks: "my-net" });
    assert.equal(all.find((s) => s["Names"] === "c2")!["Networks"], "bridge");
    // An exited sandbox has no address any more, and its endpoint left the network.
    const doneInfo = await inspect(lab, "done");
    assert.equal(doneInfo.State.Running, false);
    assert.equal(doneInfo.NetworkSettings.Networks["bridge"]!.IPAddress, "");
    assert.equal(doneInfo.NetworkSettings.SandboxKey, "");
    assert.deepEqual(Object.keys((await netInspect(lab, "bridge")).Containers), [c2.Id]);
    assert.deepEqual((await lab.berthOk(["ps", "-q"])).trim().split("\n").sort(), [c1.Id, c2.Id, c3.Id].map((i) => i.slice(0, 12)).sort());
  });
});
