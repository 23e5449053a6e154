// A client's values are data, never code or configuration (scenario S29, issue 8): values that
// would break a sandbox's resolv.conf or /etc/hosts, wrong JSON types, metacharacters of nft and
// the shell. Each is refused with 400 naming the field, or runs with exactly the value given;
// nothing else changes and berthd keeps serving.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Lab } from "./lab.js";
import { withLab } from "./lab.js";
import { assertFails, snapshot } from "./foundation.js";

async function nftTable(lab: Lab): Promise<string> {
  return lab.inHostOk(["nft", "list", "table", "inet", "berth"]);
}

async function expect400(lab: Lab, method: string, path: string, body: unknown, field: RegExp, what: string): Promise<void> {
  const r = await lab.api(method, path, body);
  assert.equal(r.status, 400, `${what}: status ${r.status}, want 400: ${r.text}`);
  const msg = r.json<{ message?: unknown }>().message;
  assert.equal(typeof msg, "string", `${what}: no JSON message: ${r.text}`);
  assert.match(msg as string, field, `${what}: the message does not name the field`);
}

test("input: --dns-search with a newline cannot add a nameserver line", async () => {
  await withLab("in", {}, async (lab) => {
    const before = await snapshot(lab);
    // The example of issue 8: the second value would become `nameserver evil.example`.
    const r = await lab.berth(["run", "--rm", "--dns-search", "\nnameserver", "--dns-search", "evil.example", "--", "cat", "/etc/resolv.conf"]);
    assert.doesNotMatch(r.stdout, /^nameserver evil\.example/m, `resolv.conf got the injected line:\n${r.stdout}`);
    assertFails(r, 125, /invalid HostConfig\.DnsSearch\[0\]: control characters are not allowed/, "--dns-search with a newline");
    // The same through the API, where no CLI stands in between, and with other separators.
    for (const bad of ["\nnameserver", "ok.example\n", "a\rb", "x\u0000y", "evil.example nameserver", "#x", "a;b"]) {
      await expect400(lab, "POST", "/containers/create", { Cmd: ["true"], HostConfig: { DnsSearch: [bad] } }, /DnsSearch|not a valid domain/, `DnsSearch ${JSON.stringify(bad)}`);
    }
    await expect400(lab, "POST", "/containers/create", { Cmd: ["true"], HostConfig: { DnsOptions: ["ndots:1\nnameserver 1.2.3.4"] } }, /DnsOptions\[0\]/, "DnsOptions with a newline");
    await expect400(lab, "POST", "/containers/create", { Cmd: ["true"], HostConfig: { Dns: ["1.2.3.4\nnameserver 5.6.7.8"] } }, /Dns\[0\]/, "Dns with a newline");
    assert.deepEqual(await snapshot(lab), before, "a refused create changed something");

    // Valid values are written normalised: the trailing dot goes, as in Docker.
    const ok = await lab.berthOk(["run", "--rm", "--dns-search", "corp.example.", "--dns", "192.0.2.2", "--", "cat", "/etc/resolv.conf"]);
    assert.match(ok, /^search corp\.example$/m, ok);
    assert.equal(ok.match(/^nameserver /gm)?.length, 1, ok);
  });
});

test("input: networks/create with wrong JSON types is a 400 naming the field, and creates nothing", async () => {
  await withLab("in", {}, async (lab) => {
    const before = await snapshot(lab);
    // The examples of issue 8 (500 "s.toLowerCase is not a function", 500 on null, and an
    // internal network from the string "false").
    await expect400(lab, "POST", "/networks/create", { Name: ["x"] }, /^invalid Name: expected a string/, "Name as an array");
    await expect400(lab, "POST", "/networks/create", { Name: null }, /^invalid Name: expected a string/, "Name null");
    await expect400(lab, "POST", "/networks/create", null, /^invalid request body: expected an object/, "body null");
    await expect400(lab, "POST", "/networks/create", { Name: "n1", Internal: "false" }, /^invalid Internal: expected a boolean, got a string/, "Internal as a string");
    await expect400(lab, "POST", "/networks/create", { Name: "n1", IPAM: { Config: [{ Subnet: 10 }] } }, /^invalid IPAM\.Config\[0\]\.Subnet: expected a string/, "Subnet as a number");
    await expect400(lab, "POST", "/networks/create", { Name: "n1", Options: { "com.docker.network.bridge.enable_icc": false } }, /Options\.com\.docker\.network\.bridge\.enable_icc: expected a string/, "option value as a boolean");
    // overlay is a driver now (503 without a cluster, as Docker outside a swarm): ask for one that is not.
    await expect400(lab, "POST", "/networks/create", { Name: "n1", Driver: "macvlan" }, /plugin "macvlan" not found/, "unknown driver");
    const notJson = await lab.apiRaw("POST", "/networks/create", '{"Name": "n1",');
    assert.equal(notJson.status, 400, notJson.text);
    assert.match(notJson.text, /not valid JSON/);
    const huge = await lab.apiRaw("POST", "/networks/create", JSON.stringify({ Name: "n1", Labels: { big: "x".repeat(1100 * 1024) } }));
    assert.equal(huge.status, 413, huge.text.slice(0, 200));
    assert.match(huge.text, /"message"/);
    assert.deepEqual(await snapshot(lab), before, "a refused network create changed something");
    assert.equal((await lab.api("GET", "/_ping")).text, "OK", "berthd stopped answering");

    // "Internal": false (a real boolean) makes an ordinary network.
    const r = await lab.api("POST", "/networks/create", { Name: "plain", Internal: false });
    assert.equal(r.status, 201, r.text);
    const inspect = (await lab.api("GET", "/networks/plain")).json<{ Internal: boolean }>();
    assert.equal(inspect.Internal, false);
  });
});

test("input: newlines in --hostname and --add-host, metacharacters in names and values", async () => {
  await withLab("in", {}, async (lab) => {
    await lab.berthOk(["network", "create", "meta"]);
    const before = await snapshot(lab);
    const rulesBefore = await nftTable(lab);

    for (const bad of ["web\nevil", "web\n", "a b"]) {
      const r = await lab.berth(["run", "-d", "--hostname", bad, "--", "sleep", "60"]);
      assert.equal(r.code, 125, `--hostname ${JSON.stringify(bad)}: ${r.code} ${r.stderr}`);
      assert.match(r.stderr, /hostname|Hostname/);
    }
    for (const bad of ["evil\n1.2.3.4:10.0.0.1", "ok:10.0.0.1\n127.0.0.1 bank.example"]) {
      await expect400(lab, "POST", "/containers/create", { Cmd: ["true"], HostConfig: { ExtraHosts: [bad] } }, /ExtraHosts\[0\]/, `ExtraHosts ${JSON.stringify(bad)}`);
    }
    // nft and shell metacharacters where names go: refused with the name rules' messages.
    for (const bad of ['x"; flush ruleset; "', "a;reboot", "$(touch /tmp/hsa-pwn)", "br`id`"]) {
      await expect400(lab, "POST", "/networks/create", { Name: bad }, /Invalid network name/, `network name ${JSON.stringify(bad)}`);
      await expect400(lab, "POST", "/networks/create", { Name: "ok1", Options: { "com.docker.network.bridge.name": bad } }, /invalid interface name/, `bridge name ${JSON.stringify(bad)}`);
      await expect400(lab, "POST", "/containers/create?name=" + encodeURIComponent(bad), { Cmd: ["true"] }, /Invalid container name/, `container name ${JSON.stringify(bad)}`);
      await expect400(lab, "POST", "/containers/create", { Cmd: ["true"], HostConfig: { NetworkMode: "meta" }, NetworkingConfig: { EndpointsConfig: { meta: { Aliases: [bad] } } } }, /invalid alias/, `alias ${JSON.stringify(bad)}`);
      await expect400(lab, "POST", "/host-services", { Spec: `${bad}=169.254.32.1:80->8500` }, /host service/, `host service ${JSON.stringify(bad)}`);
    }
    assert.deepEqual(await snapshot(lab), before, "refused requests changed something");
    assert.equal(await nftTable(lab), rulesBefore, "refused requests changed berth's rules");

    // Where any text is allowed (labels, environment, arguments), the sandbox gets exactly it.
    const label = 'x"; flush ruleset; $(touch /tmp/hsa-pwn)';
    const net = await lab.api("POST", "/networks/create", { Name: "labelled", Labels: { note: label } });
    assert.equal(net.status, 201, net.text);
    assert.equal((await lab.api("GET", "/networks/labelled")).json<{ Labels: Record<string, string> }>().Labels["note"], label);
    const value = "$(touch /tmp/hsa-pwn); `id` \"q\" 'q' \\ ; flush ruleset";
    const out = await lab.berthOk(["run", "--rm", "-e", `V=${value}`, "--", "sh", "-c", 'printf %s "$V"']);
    assert.equal(out, value);
    assert.equal((await lab.inHost(["test", "-e", "/tmp/hsa-pwn"])).code, 1, "a metacharacter value ran as a command");
    assert.match(await nftTable(lab), /chain filter-forward/, "berth's table lost its chains");
  });
});

test("input: a raw --dns-search an older berth stored is dropped at start, with a warning", async () => {
  await withLab("in", {}, async (lab) => {
    const id = (await lab.berthOk(["run", "-d", "--name", "old", "--dns-search", "ok.example", "--", "sleep", "600"])).trim();
    await lab.stopBerthd();
    // What berth before issue 8 recorded for `--dns-search $'\nnameserver' --dns-search evil.example`.
    const recordPath = join(lab.dataRoot, "store", "sandboxes", `${id}.json`);
    const record = JSON.parse(readFileSync(recordPath, "utf8")) as { config: { dnsSearch: string[] } };
    record.config.dnsSearch = ["\nnameserver", "evil.example"];
    writeFileSync(recordPath, JSON.stringify(record));
    await lab.startBerthd();
    assert.match(lab.berthdLog(), /sandbox old: dropped --dns-search "\\nnameserver" recorded by an older berth/);
    await lab.berthOk(["restart", "-t", "0", "old"]);
    const rc = await lab.berthOk(["exec", "old", "--", "cat", "/etc/resolv.conf"]);
    assert.doesNotMatch(rc, /^nameserver evil\.example/m, rc);
    assert.match(rc, /^search evil\.example$/m, rc);
  });
});
