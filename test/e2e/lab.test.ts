// Tests of the e2e lab harness itself: the topology, the fake upstream DNS, the traffic helpers,
// berthd's lifecycle (against fixtures/fake-berthd) and, above all, that teardown leaves nothing.

import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fixturePath, HOST_IP, Lab, OUTSIDE_IP, WEB_IP, withLab } from "./lab.js";
import { findLeaks, mountsUnder, parseMountinfo } from "./lab-teardown.js";

function netnsOf(path: string): string {
  const s = statSync(path);
  return `${s.dev}:${s.ino}`;
}

function labNamespaces(name: string): string[] {
  try {
    return readdirSync("/run/netns").filter((n) => n.startsWith(`${name}-`));
  } catch {
    return [];
  }
}

/** The lab is gone: no namespace, no mount, no directory. */
function assertGone(lab: Lab): void {
  assert.deepEqual(labNamespaces(lab.name), [], "namespaces left");
  assert.deepEqual(mountsUnder(lab.dir), [], "mounts left");
  assert.equal(existsSync(lab.dir), false, "lab dir left");
}

/** True once `pid` no longer runs (gone, or a zombie waiting for its parent). */
async function dies(pid: number, withinMs = 3000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    let state = "";
    try {
      state = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").charAt(0);
    } catch {
      return true;
    }
    if (state === "Z") return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A process the lab does not know about, as a berthd sandbox or a stray test process would be. */
function untracked(nsPath: string): ChildProcess & { ended: Promise<NodeJS.Signals | null> } {
  const c = spawn("nsenter", [`--net=${nsPath}`, "--", "sleep", "600"], { stdio: "ignore" });
  const ended = new Promise<NodeJS.Signals | null>((r) => c.once("exit", (_code, sig) => r(sig)));
  return Object.assign(c, { ended });
}

describe("lab topology, DNS and traffic (no berthd)", () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.create({ prefix: "lt", startBerthd: false, upstreamDns: true });
  });
  after(async () => {
    await lab.destroy();
    assertGone(lab);
  });

  test("names, paths and files", () => {
    assert.match(lab.name, /^lt[0-9a-f]{3}$/);
    assert.equal(lab.hostNsPath, `/run/netns/${lab.name}-host`);
    assert.equal(lab.outsideNsPath, `/run/netns/${lab.name}-out`);
    assert.deepEqual(labNamespaces(lab.name).sort(), [`${lab.name}-host`, `${lab.name}-out`]);
    assert.ok(lab.dir.startsWith(`/tmp/berth-lab-${lab.name}-`));
    assert.equal(readFileSync(lab.resolvConfPath, "utf8"), "nameserver 192.0.2.2\n");
    assert.ok(statSync(lab.dataRoot).isDirectory() && statSync(lab.execRoot).isDirectory());
    assert.equal(lab.sandboxNsPath("abc"), join(lab.execRoot, "netns", "abc"));
    assert.equal(lab.berthHost, `unix://${lab.dir}/berth.sock`);
    // The lab's namespaces are new ones, not ours.
    assert.notEqual(netnsOf(lab.hostNsPath), netnsOf("/proc/self/ns/net"));
    assert.notEqual(netnsOf(lab.hostNsPath), netnsOf(lab.outsideNsPath));
  });

  test("host and outside reach each other; routes are as documented", async () => {
    assert.equal(await lab.ping(lab.hostNsPath, OUTSIDE_IP), true);
    assert.equal(await lab.ping(lab.outsideNsPath, HOST_IP), true);
    assert.equal(await lab.ping(lab.hostNsPath, WEB_IP), true);
    assert.equal(await lab.ping(lab.hostNsPath, "192.0.2.99"), false, "nobody has .99");
    const hostRoutes = JSON.parse(await lab.inHostOk(["ip", "-j", "route"])) as { dst: string; gateway?: string }[];
    assert.ok(hostRoutes.some((r) => r.dst === "default" && r.gateway === OUTSIDE_IP));
    const outRoutes = JSON.parse(await lab.inOutsideOk(["ip", "-j", "route"])) as { dst: string }[];
    assert.ok(!outRoutes.some((r) => r.dst === "default"), "outside must not have a default route by default");
    const r = await lab.tcpConnect(lab.outsideNsPath, "10.99.0.1", 80);
    assert.equal(r.ok, false);
    assert.equal(r.error, "ENETUNREACH");
    // lo is up in both
    for (const ns of [lab.hostNsPath, lab.outsideNsPath]) {
      const links = JSON.parse(await lab.inNsOk(ns, ["ip", "-j", "link", "show", "lo"])) as { flags: string[] }[];
      assert.ok(links[0]?.flags.includes("UP"));
    }
  });

  test("the fake upstream answers dig from the host: A for known names, NXDOMAIN otherwise, UDP and TCP", async () => {
    const dig = async (...args: string[]) => (await lab.inHostOk(["dig", "+time=2", "+tries=1", `@${OUTSIDE_IP}`, ...args])).toString();
    const known = await dig("www.example.test");
    assert.match(known, /status: NOERROR/);
    assert.match(known, /www\.example\.test\.\s+60\s+IN\s+A\s+192\.0\.2\.80/);
    const unknown = await dig("nothing.example.test");
    assert.match(unknown, /status: NXDOMAIN/);
    assert.doesNotMatch(unknown, /ANSWER SECTION/);
    assert.match(await dig("+tcp", "WWW.Example.Test"), /IN\s+A\s+192\.0\.2\.80/);
    assert.match(await dig("www.example.test", "AAAA"), /status: NOERROR/);
    const q = await lab.dnsQuery(lab.hostNsPath, OUTSIDE_IP, "multi.example.test", { tcp: true });
    assert.equal(q.rcode, "NOERROR");
    assert.deepEqual(q.answers?.sort(), ["A 192.0.2.81", "A 192.0.2.82"]);
    assert.equal((await lab.dnsQuery(lab.hostNsPath, OUTSIDE_IP, "nope.test")).rcode, "NXDOMAIN");
  });

  test("the fake upstream logs the queries it saw; only one can listen", async () => {
    const dns = lab.upstreamDns;
    assert.ok(dns, "upstreamDns: true starts it and keeps it in lab.upstreamDns");
    const before = dns.queries().length;
    assert.equal((await lab.dnsQuery(lab.hostNsPath, OUTSIDE_IP, "Logged.Example.Test", { type: "MX" })).rcode, "NXDOMAIN");
    const q = dns.queries().slice(before);
    assert.equal(q.length, 1);
    assert.deepEqual((({ proto, name, type, rcode }) => ({ proto, name, type, rcode }))(q[0] as NonNullable<(typeof q)[0]>), {
      proto: "udp",
      name: "logged.example.test",
      type: "MX",
      rcode: "NXDOMAIN",
    });
    assert.match(q[0]?.from ?? "", /^192\.0\.2\.1:\d+$/);
    await assert.rejects(lab.startUpstreamDns(), /ended .* before it was ready[\s\S]*EADDRINUSE/);
  });

  test("servers in the outside see the client's address (tcp, http, udp); closed ports refuse", async () => {
    const tcp = await lab.outsideServer({ proto: "tcp", port: 7001 });
    const r = await lab.tcpConnect(lab.hostNsPath, OUTSIDE_IP, 7001);
    assert.equal(r.ok, true);
    assert.equal((JSON.parse(r.data) as { peer: string }).peer, HOST_IP);
    assert.equal(tcp.hits().length, 1);
    assert.equal(tcp.hits()[0]?.peer, HOST_IP);
    assert.equal(tcp.hits()[0]?.peerPort, r.localPort);

    const web = await lab.outsideServer({ proto: "http", port: 80, bind: WEB_IP });
    const g = await lab.httpGet(lab.hostNsPath, `http://${WEB_IP}/hello`, { headers: { Host: "app.example" } });
    assert.equal(g.status, 200);
    assert.deepEqual(
      (({ peer, path, host }) => ({ peer, path, host }))(JSON.parse(g.data) as { peer: string; path: string; host: string }),
      { peer: HOST_IP, path: "/hello", host: "app.example" },
    );
    const w = await lab.inHostOk(["timeout", "3", "busybox", "wget", "-q", "-O-", `http://${WEB_IP}/wget`]);
    assert.equal((JSON.parse(w) as { path: string }).path, "/wget");
    assert.deepEqual(web.hits().map((h) => h.path), ["/hello", "/wget"]);

    const udp = await lab.outsideServer({ proto: "udp", port: 7002 });
    const u = await lab.udpSend(lab.hostNsPath, OUTSIDE_IP, 7002, { send: "hi" });
    assert.equal(u.ok, true);
    assert.equal(udp.hits()[0]?.data, "hi");
    assert.equal(udp.hits()[0]?.peer, HOST_IP);

    const refused = await lab.tcpConnect(lab.hostNsPath, OUTSIDE_IP, 7003);
    assert.deepEqual([refused.ok, refused.error], [false, "ECONNREFUSED"]);
    const silent = await lab.udpSend(lab.hostNsPath, OUTSIDE_IP, 7004, { timeoutMs: 500 });
    assert.deepEqual([silent.ok, silent.error], [false, "ETIMEDOUT"]);

    await tcp.stop();
    assert.equal((await lab.tcpConnect(lab.hostNsPath, OUTSIDE_IP, 7001)).error, "ECONNREFUSED");
  });

  test("lab.berth runs bin/berth against the lab's socket and reports failures with stderr", async () => {
    const cli = join(lab.repoRoot, "bin", "berth");
    if (existsSync(cli)) {
      // No berthd in this lab: any command that needs the API must fail, and say so on stderr.
      const r = await lab.berth(["network", "ls"], { timeoutMs: 15_000 });
      assert.notEqual(r.code, 0);
      assert.ok(r.stderr.length > 0, "a failing berth command explains itself on stderr");
      await assert.rejects(lab.berthOk(["network", "ls"]), (e: Error) => e.message.includes(r.stderr.trim().split("\n")[0] ?? ""));
    } else {
      const r = await lab.berth(["version"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /bin\/berth/);
      await assert.rejects(lab.berthOk(["version"]), /bin\/berth/);
    }
  });

  test("a command that runs too long is killed and reported", async () => {
    const t0 = Date.now();
    const r = await lab.inHost(["sleep", "30"], { timeoutMs: 300 });
    assert.equal(r.timedOut, true);
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(lab.inHostOk(["sleep", "30"], { timeoutMs: 300 }), /timed out/);
    await assert.rejects(lab.inOutsideOk(["false"]), /exited 1/);
  });
});

test("outsideDefaultRoute: true routes the outside back through the host; a DNS table of one's own", async () => {
  await withLab("lr", { startBerthd: false, outsideDefaultRoute: true, upstreamDns: { "only.test": ["192.0.2.77"] } }, async (lab) => {
    const routes = JSON.parse(await lab.inOutsideOk(["ip", "-j", "route"])) as { dst: string; gateway?: string }[];
    assert.ok(routes.some((r) => r.dst === "default" && r.gateway === HOST_IP));
    // The route is used: no ENETUNREACH now; the host does not forward, so the packet dies there.
    const r = await lab.tcpConnect(lab.outsideNsPath, "10.99.0.1", 80, { timeoutMs: 500 });
    assert.equal(r.ok, false);
    assert.notEqual(r.error, "ENETUNREACH");
    const short = (name: string) => lab.inHostOk(["dig", "+short", "+time=2", "+tries=1", `@${OUTSIDE_IP}`, name]);
    assert.equal((await short("only.test")).trim(), "192.0.2.77");
    assert.equal((await short("www.example.test")).trim(), "", "the default table is replaced");
  });
});

test("berthd lifecycle: start in the host namespace, ping, stop, kill, restart, log", async () => {
  await withLab("lb", { berthdBin: fixturePath("fake-berthd"), berthdArgs: ["--log-level", "info"] }, async (lab) => {
    const pid = lab.berthdPid;
    assert.ok(pid);
    assert.equal(netnsOf(`/proc/${pid}/ns/net`), netnsOf(lab.hostNsPath), "berthd runs in the lab's host namespace");
    assert.equal((await lab.api("GET", "/_ping")).text, "OK");
    const args = (await lab.api("GET", "/args")).json<string[]>();
    const flag = (f: string) => args[args.indexOf(f) + 1];
    assert.equal(flag("--data-root"), lab.dataRoot);
    assert.equal(flag("--exec-root"), lab.execRoot);
    assert.equal(flag("--socket"), lab.socketPath);
    assert.equal(flag("--resolv-conf"), lab.resolvConfPath);
    assert.equal(args.at(-1), "info", "berthdArgs come after the lab's own flags");
    assert.equal((await lab.api("GET", "/nope")).status, 404);

    const stopped = await lab.stopBerthd();
    assert.deepEqual(stopped, { code: 0, signal: null });
    assert.equal(lab.berthdPid, undefined);
    assert.equal(await dies(pid), true);
    await assert.rejects(lab.api("GET", "/_ping"));

    await lab.startBerthd(["--sandbox", "s1"]);
    assert.notEqual(lab.berthdPid, pid);
    const killed = await lab.killBerthd();
    assert.equal(killed?.signal, "SIGKILL");

    await lab.restartBerthd();
    assert.ok((await lab.api("GET", "/args")).json<string[]>().includes("--sandbox"), "restart reuses the last extra args");
    await lab.restartBerthd([]);
    assert.ok(!(await lab.api("GET", "/args")).json<string[]>().includes("--sandbox"));
    await assert.rejects(lab.startBerthd(), /already runs/);

    const log = lab.berthdLog();
    assert.match(log, /fake-berthd: listening on/);
    assert.match(log, /--- lab: berthd stopped \(code 0/);
    assert.match(log, /--- lab: berthd killed \(code null, signal SIGKILL\)/);
    assert.equal(log.match(/--- lab: starting /g)?.length, 4);
  });
});

test("a berthd that dies at start fails Lab.create with its log, and the lab is cleaned up", async () => {
  let message = "";
  await assert.rejects(
    Lab.create({ prefix: "lf", berthdBin: fixturePath("fake-berthd"), berthdArgs: ["--fail-with", "3"] }),
    (e: Error) => {
      message = e.message;
      return /berthd exited \(code 3/.test(e.message) && /failing on purpose/.test(e.message);
    },
  );
  const name = /lab (lf[0-9a-f]{3}):/.exec(message)?.[1];
  assert.ok(name, message);
  assert.deepEqual(labNamespaces(name), []);
  assert.deepEqual(readdirSync("/tmp").filter((f) => f.startsWith(`berth-lab-${name}-`)), []);
});

test("a berthd that never answers /_ping fails Lab.create after the ready timeout, with its log", async () => {
  const t0 = Date.now();
  await assert.rejects(
    Lab.create({ prefix: "lp", berthdBin: fixturePath("fake-berthd"), berthdArgs: ["--no-listen"], berthdReadyTimeoutMs: 1500 }),
    /did not answer \/_ping within 1500 ms[\s\S]*not listening, on purpose/,
  );
  assert.ok(Date.now() - t0 >= 1500);
});

test("destroy kills what berthd left (sandbox namespaces, orphans, stray processes), unmounts, and leaves nothing", async () => {
  const lab = await Lab.create({ prefix: "ld", berthdBin: fixturePath("fake-berthd"), berthdArgs: ["--sandbox", "sa", "--sandbox", "sb"] });
  let strays: ReturnType<typeof untracked>[] = [];
  try {
    const sandboxPid = (id: string) => Number(readFileSync(join(lab.dataRoot, "sandboxes", id, "pid"), "utf8"));
    const sa = sandboxPid("sa");
    const sb = sandboxPid("sb");
    assert.equal(netnsOf(`/proc/${sa}/ns/net`), netnsOf(lab.sandboxNsPath("sa")), "the fake sandbox lives in its namespace");
    // A crash: berthd is gone, its sandboxes are orphans.
    await lab.killBerthd();
    // sb's namespace file is gone too (only its pid file tells about it).
    spawnSync("umount", [lab.sandboxNsPath("sb")]);
    strays = [untracked(lab.hostNsPath), untracked(lab.outsideNsPath), untracked(lab.sandboxNsPath("sa"))];
    await new Promise((r) => setTimeout(r, 100));
    // A bind mount under the lab dir, like a sandbox file berthd could leave.
    mkdirSync(join(lab.dir, "m"));
    spawnSync("mount", ["--bind", lab.dataRoot, join(lab.dir, "m")]);
    assert.equal(mountsUnder(lab.dir).length, 2);
    const server = await lab.outsideServer({ proto: "tcp", port: 9000 });

    await lab.destroy();

    assertGone(lab);
    for (const s of strays) assert.equal(await s.ended, "SIGKILL");
    assert.equal(await dies(sa), true, "orphaned sandbox in a mounted namespace");
    assert.equal(await dies(sb), true, "orphaned sandbox known by its pid file");
    assert.equal(await dies(server.proc.pid), true);
    await lab.destroy(); // idempotent
  } finally {
    for (const s of strays) s.kill("SIGKILL");
    await lab.destroy().catch(() => undefined);
  }
});

test("withLab destroys the lab when the body throws, and passes the error on with berthd's log", async () => {
  let seen: Lab | undefined;
  let serverPid = 0;
  await assert.rejects(
    withLab("lw", { berthdBin: fixturePath("fake-berthd"), upstreamDns: true }, async (lab) => {
      seen = lab;
      serverPid = (await lab.outsideServer({ proto: "http", port: 8080 })).proc.pid;
      throw new Error("boom in the test body");
    }),
    /boom in the test body[\s\S]*berthd\.log of lab lw[0-9a-f]{3}, last lines:[\s\S]*fake-berthd: listening/,
  );
  assert.ok(seen);
  assertGone(seen);
  assert.equal(await dies(serverPid), true);
  assert.match(seen.berthdLog(), /fake-berthd: SIGTERM, bye/, "the log outlives the lab");
  await assert.rejects(seen.startBerthd(), /destroyed/);
});

test("findLeaks reports namespaces, mounts and directories that are still there", () => {
  const name = `lk${process.pid.toString(16).slice(-3)}`;
  const dir = `/tmp/berth-lab-${name}-leaktest`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "m"), "");
  try {
    spawnSync("ip", ["netns", "add", `${name}-host`]);
    spawnSync("mount", ["--bind", "/proc/self/ns/net", join(dir, "m")]);
    const leaks = findLeaks({ name, dir }, []);
    assert.equal(leaks.length, 3, leaks.join("\n"));
    assert.match(leaks.join("\n"), new RegExp(`/run/netns/${name}-host`));
    assert.match(leaks.join("\n"), /mount .*\/m \(nsfs\)/);
    assert.match(leaks.join("\n"), /directory .* still exists/);
  } finally {
    spawnSync("umount", [join(dir, "m")]);
    spawnSync("ip", ["netns", "del", `${name}-host`]);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(findLeaks({ name, dir }, []), []);
});

test("parseMountinfo unescapes mount points", () => {
  const text =
    "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
    "43 27 0:4 net:[4026532177] /tmp/x/netns/ab rw - nsfs nsfs rw\n";
  assert.deepEqual(parseMountinfo(text), [
    { root: "/mnt1", mountPoint: "/mnt/with space", fsType: "ext3", source: "/dev/root" },
    { root: "net:[4026532177]", mountPoint: "/tmp/x/netns/ab", fsType: "nsfs", source: "nsfs" },
  ]);
});

test("bad prefixes are refused", async () => {
  await assert.rejects(Lab.create({ prefix: "Bad-Prefix", startBerthd: false }), /want 1-8 of \[a-z0-9\]/);
  await assert.rejects(Lab.create({ prefix: "waytoolongprefix", startBerthd: false }), /want 1-8/);
});

const noBerthd = !existsSync(new URL("../../../bin/berthd", import.meta.url)) && "bin/berthd does not exist yet";

test("the real berthd starts in a lab, answers /_ping, and its sandboxes do not outlive the lab", { skip: noBerthd }, async () => {
  let sandboxPid = 0;
  const lab = await Lab.create({ prefix: "lr" });
  try {
    assert.equal((await lab.api("GET", "/_ping")).status, 200);
    assert.ok(lab.berthdPid);
    assert.equal(netnsOf(`/proc/${lab.berthdPid}/ns/net`), netnsOf(lab.hostNsPath));
    await lab.berthOk(["run", "-d", "--name", "c1", "sleep", "600"]);
    const ns = await lab.sandboxNs("c1");
    assert.ok(ns.startsWith(lab.execRoot), ns);
    const inspect = (await lab.api("GET", "/containers/c1/json")).json<{ State: { Pid: number } }>();
    sandboxPid = inspect.State.Pid;
    assert.equal(netnsOf(`/proc/${sandboxPid}/ns/net`), netnsOf(ns));
    await lab.killBerthd(); // a crash: the sandbox stays behind
    await lab.destroy();
    assertGone(lab);
    assert.equal(await dies(sandboxPid), true, "the sandbox's process was killed");
  } finally {
    await lab.destroy().catch(() => undefined);
  }
});
