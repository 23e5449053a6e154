// S15: --link. On the default bridge (here with berthd --icc=false, as the scenario has it):
// Docker's environment variables and the /etc/hosts line "IP alias shortid name"; the link lets
// exactly the linking sandbox reach the target's exposed port; when the target comes back with a
// new address the linking sandbox's /etc/hosts is rewritten (and the link still works). On a user
// network a link is only a DNS alias of the linking sandbox.

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { assertFails, inspect, ipOn, netInspect, webRoot, wget } from "./foundation.js";
import { assertA, catIn, dig, mainEnv, show } from "./names-helpers.js";
import { waitFor } from "./wait.js";

const SLEEP = ["sleep", "600"];

function hostsLine(hosts: string, re: RegExp): string | undefined {
  return hosts.split("\n").find((l) => re.test(l))?.replace(/\s+/g, " ").trim();
}

test("S15 links on the default bridge: env, hosts line, ICC off, rewrite when the target moves", async () => {
  await withLab("l320", { berthdArgs: ["--icc=false"] }, async (lab) => {
    const www = webRoot(lab, "web2", "hello from web2\n");
    await lab.berthOk(["run", "-d", "--name", "web2", "-e", "FOO=bar", "-e", "MULTI=a=b", "--expose", "80", "--", "busybox", "httpd", "-f", "-p", "80", "-h", www]);
    // web2 also listens on a port it does not expose.
    await lab.berthOk(["exec", "web2", "--", "busybox", "httpd", "-p", "81", "-h", www]);
    await lab.berthOk(["run", "-d", "--name", "db", "--expose", "5432", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "client", "--link", "web2:ng2", "--link", "db", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "stranger", "--", ...SLEEP]);

    const web2 = await inspect(lab, "web2");
    const ip = web2.NetworkSettings.Networks["bridge"]!.IPAddress;
    const dbj = await inspect(lab, "db");
    const dbIp = dbj.NetworkSettings.Networks["bridge"]!.IPAddress;

    // ---- environment ----------------------------------------------------------------------
    const env = await mainEnv(lab, "client");
    const want: Record<string, string> = {
      NG2_NAME: "/client/ng2",
      NG2_PORT: `tcp://${ip}:80`,
      NG2_PORT_80_TCP: `tcp://${ip}:80`,
      NG2_PORT_80_TCP_ADDR: ip,
      NG2_PORT_80_TCP_PORT: "80",
      NG2_PORT_80_TCP_PROTO: "tcp",
      NG2_ENV_FOO: "bar",
      NG2_ENV_MULTI: "a=b",
      DB_NAME: "/client/db",
      DB_PORT: `tcp://${dbIp}:5432`,
      DB_PORT_5432_TCP: `tcp://${dbIp}:5432`,
      DB_PORT_5432_TCP_ADDR: dbIp,
      DB_PORT_5432_TCP_PORT: "5432",
      DB_PORT_5432_TCP_PROTO: "tcp",
    };
    const linkVars = Object.fromEntries([...env].filter(([k]) => /^(NG2|DB)_/.test(k)));
    assert.deepEqual(linkVars, want, "link environment of client");
    assert.ok(!env.has("NG2_ENV_PATH") && !env.has("NG2_ENV_HOME"), "HOME and PATH of the target are not passed");
    // The target and a bystander get nothing.
    assert.ok(![...(await mainEnv(lab, "stranger")).keys()].some((k) => /^(NG2|DB)_/.test(k)), "stranger has no link vars");

    // ---- /etc/hosts -----------------------------------------------------------------------
    const hosts = await catIn(lab, "client", "/etc/hosts");
    const clientIp = await ipOn(lab, "client", "bridge");
    assert.equal(hostsLine(hosts, /\bng2\b/), `${ip} ng2 ${web2.Id.slice(0, 12)} web2`, hosts);
    assert.equal(hostsLine(hosts, /\bdb\b/), `${dbIp} db ${dbj.Id.slice(0, 12)}`, hosts);
    const hl = hosts.trimEnd().split("\n");
    assert.match(hl.at(-1)!, new RegExp(`^${clientIp.replace(/\./g, "\\.")}\\s`), `own line last:\n${hosts}`);
    assert.doesNotMatch(await catIn(lab, "web2", "/etc/hosts"), /\bclient\b|\bng2\b/, "the target's file is unchanged");

    // ---- reachability with ICC off: exactly the exposed port, from exactly the linker --------
    const viaName = await wget(lab, "client", "http://ng2/");
    assert.equal(viaName.code, 0, `client -> ng2:80 by the hosts name: ${viaName.stderr}`);
    assert.equal(viaName.stdout, "hello from web2\n");
    assert.equal((await wget(lab, "client", "http://web2/")).code, 0, "client -> web2 (the name on the line)");
    const ns = await lab.sandboxNs("client");
    assert.ok(!(await lab.tcpConnect(ns, ip, 81, { timeoutMs: 1500 })).ok, "client -/-> web2:81 (not exposed)");
    const strangerNs = await lab.sandboxNs("stranger");
    assert.ok(!(await lab.tcpConnect(strangerNs, ip, 80, { timeoutMs: 1500 })).ok, "stranger -/-> web2:80 (ICC off, no link)");

    // ---- web2 comes back with a new address: client's /etc/hosts follows --------------------
    await lab.berthOk(["stop", "-t", "1", "web2"]);
    await lab.berthOk(["run", "-d", "--name", "squatter", "--", ...SLEEP]); // takes web2's old address if it was freed
    await lab.berthOk(["start", "web2"]);
    await lab.berthOk(["exec", "web2", "--", "true"]);
    const ip2 = await ipOn(lab, "web2", "bridge");
    assert.notEqual(ip2, ip, `web2 was expected to get a new address (squatter: ${await ipOn(lab, "squatter", "bridge")})`);
    let hosts2 = "";
    await waitFor(`client's /etc/hosts to show web2's new address ${ip2}`, async () => (hosts2 = await catIn(lab, "client", "/etc/hosts")).includes(ip2), {
      describe: () => hosts2,
    });
    assert.equal(hostsLine(hosts2, /\bng2\b/), `${ip2} ng2 ${web2.Id.slice(0, 12)} web2`, `client's /etc/hosts after web2 moved:\n${hosts2}`);
    assert.equal(hostsLine(hosts2, /\bdb\b/), `${dbIp} db ${dbj.Id.slice(0, 12)}`, hosts2);
    // The process sees the new file (the bind mount follows the rewrite), and the link still works.
    const got = await wget(lab, "client", "http://ng2/");
    assert.equal(got.code, 0, `client -> ng2 after the move: ${got.stderr}`);
    assert.equal(got.stdout, "hello from web2\n");
    const squatterNs = await lab.sandboxNs("squatter");
    assert.ok(!(await lab.tcpConnect(squatterNs, ip2, 80, { timeoutMs: 1500 })).ok, "the squatter has no link to web2");
  });
});

test("S15 links on a user network: a DNS alias of the linking sandbox only; a missing target is an error", async () => {
  await withLab("l320u", { upstreamDns: true }, async (lab) => {
    await lab.berthOk(["network", "create", "lnet"]);
    const gw = (await netInspect(lab, "lnet")).IPAM.Config[0]!.Gateway!;
    await lab.berthOk(["run", "-d", "--name", "lweb", "--network", "lnet", "-e", "FOO=bar", "--expose", "80", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "lclient", "--network", "lnet", "--link", "lweb:lalias", "--", ...SLEEP]);
    await lab.berthOk(["run", "-d", "--name", "lother", "--network", "lnet", "--", ...SLEEP]);
    const ip = await ipOn(lab, "lweb", "lnet");

    assertA(await dig(lab, "lclient", gw, "lalias"), [ip], "lalias from lclient");
    const g = await lab.berth(["exec", "lclient", "--", "getent", "hosts", "lalias"], { timeoutMs: 15_000 });
    assert.equal(g.code, 0, `getent hosts lalias in lclient: ${g.stderr}`);
    assert.match(g.stdout, new RegExp(`^${ip.replace(/\./g, "\\.")}\\s`));
    const other = await dig(lab, "lother", gw, "lalias");
    assert.ok(!other.answers.includes(ip), `lother must not resolve lclient's alias: ${show(other)}`);

    // No variables, no hosts line.
    const env = await mainEnv(lab, "lclient");
    assert.ok(![...env.keys()].some((k) => k.startsWith("LALIAS_")), `no link variables on a user network: ${[...env.keys()]}`);
    assert.doesNotMatch(await catIn(lab, "lclient", "/etc/hosts"), /lalias|lweb/);

    const r = await lab.berth(["run", "-d", "--name", "bad", "--link", "nosuch:x", "--", ...SLEEP]);
    assertFails(r, 125, "nosuch", "--link to a missing sandbox");
    assert.equal((await lab.api("GET", "/containers/bad/json")).status, 404, "nothing created");
  });
});
