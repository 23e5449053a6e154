// S25: berth template renders an haproxy.cfg back-end from the catalog's healthy instances,
// re-renders on a change (blocking queries), runs its command once per change, leaves the file
// alone for changes it does not read, keeps the last output when a render would empty the
// back-end or when berthd is away, and --once renders and exits.

import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { raw, waitFor } from "./catalog-helpers.js";

const TEMPLATE = `backend be_web
    balance roundrobin
{{#each (service "web")}}    server {{ID}} {{Address}}:{{Port}} check
{{/each}}`;

const read = (p: string) => {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
};
const lines = (p: string) => read(p).split("\n").filter(Boolean);

test("S25 berth template: renders, re-renders on change, runs the command, keeps the last good output", async () => {
  await withLab("cgf470", { berthdReadyTimeoutMs: 30_000, berthdArgs: ["--catalog-addr", "8500"] }, async (lab) => {
    const tpl = join(lab.dir, "haproxy.cfg.hbs");
    const out = join(lab.dir, "out", "haproxy.cfg");
    const ran = join(lab.dir, "ran.log");
    writeFileSync(tpl, TEMPLATE);
    const reg = async (body: unknown) => assert.equal((await raw(lab, "PUT", "/v1/agent/service/register", body)).status, 200);
    await reg({ Name: "web", ID: "web1", Address: "10.1.1.1", Port: 8080 });
    // A critical instance is never rendered.
    await reg({ Name: "web", ID: "web9", Address: "10.1.1.9", Port: 8080, Check: { TCP: "127.0.0.1:1", Interval: "10s", Timeout: "1s" } });

    // --once against a catalog that is not there gives up with a message (about 8 s of retries; awaited at the end).
    const nowhere = lab.inHost([process.execPath, join(lab.repoRoot, "bin", "berth"), "template", "--once", "--catalog", "http://127.0.0.1:1", "--template", `${tpl}:${join(lab.dir, "nowhere.cfg")}`], { timeoutMs: 60_000 });
    const proc = await lab.spawnIn(lab.hostNsPath, [process.execPath, join(lab.repoRoot, "bin", "berth"), "-H", lab.berthHost, "template", "--template", `${tpl}:${out}:sh -c 'echo run >> ${ran}'`, "--wait", "50ms:200ms"], { name: "template", readyPattern: /rendered/ });
    await waitFor("the command's first run", async () => lines(ran).length, (n) => n === 1);
    assert.equal(read(out), "backend be_web\n    balance roundrobin\n    server web1 10.1.1.1:8080 check\n");

    // A new instance: re-rendered and the command run once more.
    await reg({ Name: "web", ID: "web2", Address: "10.1.1.2", Port: 8080 });
    await waitFor("web2 in the output", async () => read(out), (t) => t.includes("server web2 10.1.1.2:8080"));
    await waitFor("the second command run", async () => lines(ran).length, (n) => n === 2);
    const inode = statSync(out).ino;

    // A service the template does not read: no render. (Checked by the next change running the command exactly once more.)
    await reg({ Name: "db", ID: "db1", Address: "10.1.1.50", Port: 5432 });
    await reg({ Name: "web", ID: "web3", Address: "10.1.1.3", Port: 8080 });
    await waitFor("web3 in the output", async () => read(out), (t) => t.includes("server web3"));
    await waitFor("the third command run", async () => lines(ran).length, (n) => n === 3);
    assert.notEqual(statSync(out).ino, inode, "written through a new file renamed over the old one");
    assert.equal(lines(ran).length, 3, "one run per change of the output, none for db");

    // Every web instance gone: the back-end would be empty, so the last output stays.
    for (const id of ["web1", "web2", "web3"]) assert.equal((await raw(lab, "PUT", `/v1/agent/service/deregister/${id}`)).status, 200);
    await waitFor("the keep-last-output message", async () => proc.log(), (l) => /would have no instances .*keeping the last output/.test(l));
    // (The deregistrations may be rendered one by one under load: the last non-empty set stays.)
    assert.match(read(out), /^    server web[123] 10\.1\.1\.[123]:8080 check$/m, read(out));

    // berthd away: the file stays, the template keeps trying, and picks up the next change.
    await lab.stopBerthd();
    await waitFor("the catalog-unreachable message", async () => proc.log(), (l) => /cannot reach the catalog/.test(l));
    assert.match(read(out), /server web[123] /);
    assert.ok(proc.running(), proc.log());
    await lab.startBerthd();
    await reg({ Name: "web", ID: "web4", Address: "10.1.1.4", Port: 8080 });
    await waitFor("web4 alone in the output after berthd came back", async () => read(out), (t) => t.includes("server web4") && !t.includes("web1"), 20_000);
    await proc.stop();

    // --once: one render, exit 0.
    const once = join(lab.dir, "once.cfg");
    const r = await lab.berth(["template", "--once", "--template", `${tpl}:${once}`], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(read(once), "backend be_web\n    balance roundrobin\n    server web4 10.1.1.4:8080 check\n");

    // The same over the catalog's TCP listener (--catalog-addr 8500: 127.0.0.1:8500 in the lab's host).
    const tcp = join(lab.dir, "tcp.cfg");
    const rt = await lab.inHost([process.execPath, join(lab.repoRoot, "bin", "berth"), "template", "--once", "--catalog", "http://127.0.0.1:8500", "--template", `${tpl}:${tcp}`], { timeoutMs: 20_000 });
    assert.equal(rt.code, 0, rt.stderr);
    assert.equal(read(tcp), read(once));

    // Mistakes are named: a missing template, shell syntax without sh -c.
    const missing = await lab.berth(["template", "--once", "--template", `${lab.dir}/nope.hbs:${once}`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /cannot read template .*nope\.hbs/);
    const shell = await lab.berth(["template", "--once", "--template", `${tpl}:${once}:haproxy -c && reload`]);
    assert.notEqual(shell.code, 0);
    assert.match(shell.stderr, /sh -c/);
    const gaveUp = await nowhere;
    assert.equal(gaveUp.code, 1, gaveUp.stderr);
    assert.match(gaveUp.stderr, /cannot reach the catalog .*giving up/s);
    assert.equal(read(join(lab.dir, "nowhere.cfg")), "", "nothing written");
  });
});

test("S25 berth template drives a real HAProxy: a new healthy instance takes requests after the re-render and reload, a failing one leaves", async () => {
  await withLab("cgf471", {}, async (lab) => {
    const cfg = join(lab.dir, "haproxy.cfg");
    const pid = join(lab.dir, "haproxy.pid");
    const tpl = join(lab.dir, "haproxy.cfg.hbs");
    // The template of docs/services.md, with the lab's paths and ports.
    writeFileSync(tpl, `global
    stats socket ${lab.dir}/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe_web
    bind 127.0.0.1:18080
    default_backend be_web
backend be_web
    balance roundrobin
{{#each (service "web")}}    server {{ID}} {{Address}}:{{Port}} check inter 500ms
{{else}}    # no healthy instance of web
{{/each}}`);
    const reg = async (body: unknown) => assert.equal((await raw(lab, "PUT", "/v1/agent/service/register", body)).status, 200);
    const healthy = (n: number) =>
      waitFor(`${n} healthy web instance(s)`, async () => (JSON.parse((await raw(lab, "GET", "/v1/health/service/web?passing")).text) as unknown[]).length, (x) => x === n);
    const s1 = await lab.startServer(lab.hostNsPath, { proto: "http", port: 18081, bind: "127.0.0.1" });
    const s2 = await lab.startServer(lab.hostNsPath, { proto: "http", port: 18082, bind: "127.0.0.1" });
    await reg({ Name: "web", ID: "web1", Address: "127.0.0.1", Port: 18081, Check: { HTTP: "http://127.0.0.1:18081/health", Interval: "1s", Timeout: "500ms" } });
    await healthy(1);

    const once = await lab.berth(["template", "--once", "--template", `${tpl}:${cfg}`], { timeoutMs: 20_000 });
    assert.equal(once.code, 0, once.stderr);
    const check = await lab.inHost(["haproxy", "-c", "-f", cfg]);
    assert.equal(check.code, 0, `haproxy -c on the rendered file:\n${read(cfg)}\n${check.stdout}${check.stderr}`);
    await lab.spawnIn(lab.hostNsPath, ["haproxy", "-W", "-db", "-f", cfg, "-p", pid], { name: "haproxy" });
    const ports = async (n: number) => {
      const seen: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = await lab.httpGet(lab.hostNsPath, "http://127.0.0.1:18080/x", { timeoutMs: 3000 });
        if (r.ok && r.status === 200) seen.push((JSON.parse(r.data) as { localPort: number }).localPort);
      }
      return seen;
    };
    await waitFor("HAProxy sending to web1", () => ports(2), (p) => p.length === 2 && p.every((x) => x === 18081));

    const reload = `sh -c 'haproxy -c -q -f ${cfg} && kill -USR2 $(cat ${pid})'`;
    const proc = await lab.spawnIn(lab.hostNsPath, [process.execPath, join(lab.repoRoot, "bin", "berth"), "-H", lab.berthHost, "template", "--wait", "100ms:1s", "--template", `${tpl}:${cfg}:${reload}`], { name: "template" });
    await reg({ Name: "web", ID: "web2", Address: "127.0.0.1", Port: 18082, Check: { HTTP: "http://127.0.0.1:18082/health", Interval: "1s", Timeout: "500ms" } });
    await waitFor("web2 in haproxy.cfg", async () => read(cfg), (t) => t.includes("server web2 127.0.0.1:18082"));
    await waitFor("HAProxy sending to web2 after the reload", () => ports(4), (p) => p.includes(18082) && p.includes(18081), 20_000);
    assert.ok(s2.hits().some((h) => h.path === "/x"), "web2 served requests through HAProxy");

    // web2 stops answering: berthd's check turns it critical, the template drops it, HAProxy reloads.
    await s2.stop();
    await waitFor("web2 out of haproxy.cfg", async () => read(cfg), (t) => !t.includes("web2") && t.includes("server web1"), 20_000);
    await waitFor("every request to web1", () => ports(4), (p) => p.length === 4 && p.every((x) => x === 18081), 20_000);
    assert.ok(s1.hits().length > 0);
    assert.doesNotMatch(proc.log(), /failed/, proc.log());
  });
});
