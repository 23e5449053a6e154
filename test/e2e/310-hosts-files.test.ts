// S20 (and the file half of S15): /etc/hosts, /etc/resolv.conf and /etc/hostname as a sandbox
// sees them, through berthd and the CLI; bad --add-host / --dns flags are refused with Docker's
// messages, exit 125, and nothing is created.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { assertFails, inspect, ipOn, netInspect, psJson } from "./foundation.js";
import { catIn } from "./names-helpers.js";

const SLEEP = ["sleep", "600"];
const STANDARD = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
];

/** Lines of a file, without the final empty one; tabs and spaces between fields as "\t". */
function lines(text: string): string[] {
  assert.ok(text.endsWith("\n"), `file ends with a newline: ${JSON.stringify(text)}`);
  return text.slice(0, -1).split("\n");
}

/** Hosts lines with white space normalized to one tab between address and names. */
function hostsLines(text: string): string[] {
  return lines(text).map((l) => l.replace(/^(\S+)\s+/, "$1\t").replace(/[ \t]+$/, ""));
}

function nameservers(rc: string): string[] {
  return rc.split("\n").filter((l) => /^nameserver\s/.test(l)).map((l) => l.split(/\s+/)[1]!);
}

function directive(rc: string, key: string): string[] {
  return rc.split("\n").filter((l) => l.startsWith(key + " ")).map((l) => l.slice(key.length + 1).trim());
}

test("S20 /etc/hosts, resolv.conf and hostname on a user network, the default bridge and none", async () => {
  await withLab("h310", { upstreamDns: true }, async (lab) => {
    // A host resolv.conf with a loopback and an IPv6 resolver, a search list and options.
    writeFileSync(
      lab.resolvConfPath,
      "# lab resolvers\nsearch lab.example corp.example\nnameserver 127.0.0.53\nnameserver 192.0.2.2\nnameserver ::1\noptions timeout:3\n",
    );
    await lab.restartBerthd();

    await lab.berthOk(["network", "create", "my-net"]);
    const gw = (await netInspect(lab, "my-net")).IPAM.Config[0]!.Gateway!;

    // ---- user network: --add-host in order, host-gateway, own line last -------------------
    await lab.berthOk([
      "run", "-d", "--name", "h1", "--network", "my-net", "--hostname", "h1host",
      "--add-host", "consul.local:169.254.32.1",
      "--add-host", "multi:10.0.0.1",
      "--add-host", "multi:10.0.0.2",
      "--add-host", "host.internal:host-gateway",
      "--add-host", "eq=10.0.0.3",
      "--add-host", "six:[fd00::1]",
      "--", ...SLEEP,
    ]);
    const h1Ip = await ipOn(lab, "h1", "my-net");
    assert.deepEqual(hostsLines(await catIn(lab, "h1", "/etc/hosts")), [
      ...STANDARD,
      "169.254.32.1\tconsul.local",
      "10.0.0.1\tmulti",
      "10.0.0.2\tmulti",
      `${gw}\thost.internal`,
      "10.0.0.3\teq",
      "fd00::1\tsix",
      `${h1Ip}\th1host`,
    ]);
    assert.equal(await catIn(lab, "h1", "/etc/hostname"), "h1host\n");
    assert.equal((await lab.berthOk(["exec", "h1", "--", "hostname"])).trim(), "h1host");
    // The system resolver reads the file: getent finds the extra host.
    assert.match(await lab.berthOk(["exec", "h1", "--", "getent", "hosts", "consul.local"]), /^169\.254\.32\.1\s+consul\.local/);

    // A hostname with a dot: "fqdn short".
    await lab.berthOk(["run", "-d", "--name", "fq", "--network", "my-net", "--hostname", "web.corp.example", "--", ...SLEEP]);
    const fqHosts = hostsLines(await catIn(lab, "fq", "/etc/hosts"));
    assert.equal(fqHosts.at(-1), `${await ipOn(lab, "fq", "my-net")}\tweb.corp.example web`);
    assert.equal((await lab.berthOk(["exec", "fq", "--", "hostname"])).trim(), "web.corp.example");

    // No --hostname: the short id; no other sandbox in the file (names come from DNS).
    const h1 = await inspect(lab, "h1");
    await lab.berthOk(["run", "-d", "--name", "plain", "--network", "my-net", "--", ...SLEEP]);
    const plain = await inspect(lab, "plain");
    const plainShort = plain.Id.slice(0, 12);
    assert.deepEqual(hostsLines(await catIn(lab, "plain", "/etc/hosts")), [...STANDARD, `${await ipOn(lab, "plain", "my-net")}\t${plainShort}`]);
    assert.equal(await catIn(lab, "plain", "/etc/hostname"), `${plainShort}\n`);
    assert.equal((await lab.berthOk(["exec", "plain", "--", "hostname"])).trim(), plainShort);
    assert.equal(plain.Config.Hostname, plainShort, "inspect Config.Hostname");
    assert.equal(h1.Config.Hostname, "h1host");

    // ---- resolv.conf on a user network --------------------------------------------------
    const rcPlain = await catIn(lab, "plain", "/etc/resolv.conf");
    assert.deepEqual(nameservers(rcPlain), [gw], rcPlain);
    assert.deepEqual(directive(rcPlain, "search"), ["lab.example corp.example"], `host's search list kept:\n${rcPlain}`);
    assert.deepEqual(directive(rcPlain, "options"), ["timeout:3 ndots:0"], `host's options + ndots:0:\n${rcPlain}`);

    await lab.berthOk([
      "run", "-d", "--name", "custom", "--network", "my-net",
      "--dns", "192.0.2.80", "--dns-search", "corp.test", "--dns-search", "b.test", "--dns-option", "ndots:2", "--dns-option", "rotate",
      "--", ...SLEEP,
    ]);
    const rcCustom = await catIn(lab, "custom", "/etc/resolv.conf");
    assert.deepEqual(nameservers(rcCustom), [gw], `--dns is kept by berthd, not written:\n${rcCustom}`);
    assert.deepEqual(directive(rcCustom, "search"), ["corp.test b.test"], rcCustom);
    assert.deepEqual(directive(rcCustom, "options"), ["ndots:2 rotate"], `the user's ndots, no ndots:0 added:\n${rcCustom}`);

    await lab.berthOk(["run", "-d", "--name", "nosearch", "--network", "my-net", "--dns-search", ".", "--", ...SLEEP]);
    const rcNoSearch = await catIn(lab, "nosearch", "/etc/resolv.conf");
    assert.deepEqual(directive(rcNoSearch, "search"), [], `--dns-search . means none:\n${rcNoSearch}`);
    assert.deepEqual(nameservers(rcNoSearch), [gw]);

    // ---- default bridge ------------------------------------------------------------------
    await lab.berthOk(["run", "-d", "--name", "b1", "--add-host", "gw:host-gateway", "--add-host", "x.test:10.9.9.9", "--", ...SLEEP]);
    const b1 = await inspect(lab, "b1");
    const b1Ip = await ipOn(lab, "b1", "bridge");
    assert.deepEqual(hostsLines(await catIn(lab, "b1", "/etc/hosts")), [...STANDARD, "172.17.0.1\tgw", "10.9.9.9\tx.test", `${b1Ip}\t${b1.Id.slice(0, 12)}`]);
    const rcB1 = await catIn(lab, "b1", "/etc/resolv.conf");
    assert.deepEqual(nameservers(rcB1), ["192.0.2.2"], `loopback and IPv6 resolvers filtered out:\n${rcB1}`);
    assert.deepEqual(directive(rcB1, "search"), ["lab.example corp.example"], rcB1);
    assert.deepEqual(directive(rcB1, "options"), ["timeout:3"], rcB1);
    // ... and the sandbox can use it: the lab's upstream answers through masquerade.
    assert.match(await lab.berthOk(["exec", "b1", "--", "getent", "hosts", "www.example.test"]), /^192\.0\.2\.80\s/);

    await lab.berthOk(["run", "-d", "--name", "b2", "--dns", "192.0.2.80", "--dns", "192.0.2.2", "--dns-option", "attempts:1", "--", ...SLEEP]);
    const rcB2 = await catIn(lab, "b2", "/etc/resolv.conf");
    assert.deepEqual(nameservers(rcB2), ["192.0.2.80", "192.0.2.2"], `--dns written as is on the default bridge:\n${rcB2}`);
    assert.deepEqual(directive(rcB2, "options"), ["attempts:1"], rcB2);
    assert.doesNotMatch(rcB2, /127\.0\.0\.53|::1/, rcB2);

    // ---- none: no own line -------------------------------------------------------------------
    await lab.berthOk(["run", "-d", "--name", "n1", "--network", "none", "--hostname", "lonely", "--add-host", "a.test:10.1.1.1", "--add-host", "gw:host-gateway", "--", ...SLEEP]);
    assert.deepEqual(hostsLines(await catIn(lab, "n1", "/etc/hosts")), [...STANDARD, "10.1.1.1\ta.test", "172.17.0.1\tgw"]);
    const rcN1 = await catIn(lab, "n1", "/etc/resolv.conf");
    assert.deepEqual(nameservers(rcN1), ["192.0.2.2"], rcN1);
    assert.equal((await lab.berthOk(["exec", "n1", "--", "hostname"])).trim(), "lonely");
  });
});

test("S20 bad --add-host and --dns flags: Docker's messages, exit 125, nothing created", async () => {
  await withLab("h310e", {}, async (lab) => {
    await lab.berthOk(["network", "create", "my-net"]);
    const before = await lab.berthOk(["ps", "-a", "--format", "json"]);
    const cases: Array<[string[], string]> = [
      [["--add-host", "bad"], 'bad format for add-host: "bad"'],
      [["--add-host", "x:notanip"], 'invalid IP address in add-host: "notanip"'],
      [["--dns", "notanip"], "notanip is not an ip address"],
      [["--dns-search", "-bad-"], "-bad- is not a valid domain"],
      [["--dns-option", "ndots:x"], "invalid number for ndots option: x"],
    ];
    for (const [flags, msg] of cases) {
      for (const net of ["my-net", "bridge"]) {
        const r = await lab.berth(["run", "-d", "--name", "broken", "--network", net, ...flags, "--", ...SLEEP]);
        assertFails(r, 125, msg, `berth run ${flags.join(" ")} on ${net}`);
        assert.equal(r.stdout, "", `no id printed for ${flags.join(" ")}`);
      }
    }
    assert.equal(await lab.berthOk(["ps", "-a", "--format", "json"]), before, "no sandbox was created");
    assert.deepEqual(psJson(before), []);

    // The API refuses them too (a client other than the CLI): 400 with the message, nothing created.
    for (const [hc, msg] of [
      [{ ExtraHosts: ["bad"] }, 'bad format for add-host: "bad"'],
      [{ ExtraHosts: ["name with space:10.0.0.1"] }, "add-host"],
      [{ Dns: ["nope"] }, "nope is not an ip address"],
    ] as const) {
      const r = await lab.api("POST", "/containers/create?name=viaapi", { Cmd: SLEEP, HostConfig: { NetworkMode: "my-net", ...hc } });
      assert.equal(r.status, 400, `API create with ${JSON.stringify(hc)}: ${r.status} ${r.text}`);
      assert.ok(r.json<{ message: string }>().message.includes(msg), `API message for ${JSON.stringify(hc)}: ${r.text}`);
    }
    assert.equal((await lab.api("GET", "/containers/viaapi/json")).status, 404, "nothing created through the API");
  });
});
