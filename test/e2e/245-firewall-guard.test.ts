// berth's firewall stays in place while berthd runs. Someone flushes the ruleset, deletes berth's
// table or one of its rules, or a host firewall turns forwarding to DROP (iptables policy, a new
// nft table whose forward chain drops, as ufw or Docker do): berthd notices through nft monitor,
// rebuilds or adds its accept rule, and says so in its log; a published port answers again
// without any berth command. A user's own chain, jumped to from user-forward, is never touched:
// it survives berthd restarts and a SIGKILL. Waits are bounded generously (10 s) and fail with a
// message; how long each took is printed, not asserted (timings belong in bench/).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Lab, OUTSIDE_IP, WEB_IP, withLab } from "./lab.js";
import { sleep } from "./lab-exec.js";
import { ipOn } from "./foundation.js";
import { HOST_IP, reachAll, runServer } from "./publish-helpers.js";

const BOUND_MS = 10_000;

/** Polls until the outside reaches HOST_IP:port (from `bind`, default the outside's address). */
async function waitReaches(lab: Lab, what: string, port: number, bind = OUTSIDE_IP): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const [r] = await reachAll(lab, lab.outsideNsPath, [{ ip: HOST_IP, port, bind }]);
    if (r!.ok) {
      const ms = Date.now() - t0;
      console.log(`# ${what}: published port ${port} answered again after ${ms} ms`);
      return ms;
    }
    if (Date.now() - t0 > BOUND_MS) {
      const table = await lab.inHost(["nft", "list", "ruleset"]);
      assert.fail(`${what}: published port ${port} still does not answer after ${BOUND_MS} ms (${JSON.stringify(r)}); ruleset:\n${table.stdout}`);
    }
    await sleep(100);
  }
}

/** Waits until berthd's log matches `re` (after `from` characters). */
async function waitLog(lab: Lab, re: RegExp, what: string, from = 0): Promise<void> {
  const t0 = Date.now();
  while (!re.test(lab.berthdLog().slice(from))) {
    if (Date.now() - t0 > BOUND_MS) assert.fail(`${what}: berthd's log does not say ${re} after ${BOUND_MS} ms`);
    await sleep(100);
  }
}

test("S17b firewall guard: flush ruleset, deleted table or rule, foreign DROP: rebuilt promptly; the user's chain survives restarts", async () => {
  await withLab("p245", {}, async (lab) => {
    await runServer(lab, "web1", ["-p", "8080:80"], [{ proto: "tcp", port: 80 }]);
    await waitReaches(lab, "at start", 8080);

    // nft flush ruleset: everything goes, berth's table comes back.
    let mark = lab.berthdLog().length;
    await lab.inHostOk(["nft", "flush", "ruleset"]);
    await waitReaches(lab, "after nft flush ruleset", 8080);
    await waitLog(lab, /table inet berth was changed behind berth's back \(.*by process \d+ \(nft\).*\): table inet berth is missing; rebuilding it/, "flush ruleset", mark);

    // Only berth's table deleted.
    mark = lab.berthdLog().length;
    await lab.inHostOk(["nft", "delete", "table", "inet", "berth"]);
    await waitReaches(lab, "after nft delete table inet berth", 8080);
    await waitLog(lab, /table inet berth is missing; rebuilding it/, "delete table", mark);

    // One of berth's rules deleted (the accept of published ports).
    mark = lab.berthdLog().length;
    const listing = await lab.inHostOk(["nft", "-a", "list", "chain", "inet", "berth", "filter-forward"]);
    const handle = /comment "published port" # handle (\d+)/.exec(listing)?.[1];
    assert.ok(handle, listing);
    await lab.inHostOk(["nft", "delete", "rule", "inet", "berth", "filter-forward", "handle", handle]);
    await waitLog(lab, /chain filter-forward holds 11 rules, berth wrote 12; rebuilding it/, "deleted rule", mark);
    await waitReaches(lab, "after a rule of berth's was deleted", 8080);

    // A user's own chain, jumped to from user-forward: drops WEB_IP to web1:80.
    const web1 = await ipOn(lab, "web1", "bridge");
    mark = lab.berthdLog().length;
    await lab.inHostOk(["nft", "-f", "-"], {
      input: `add chain inet berth mine\nadd rule inet berth mine ip saddr ${WEB_IP} ip daddr ${web1} tcp dport 80 drop comment "mine"\nadd rule inet berth user-forward jump mine\n`,
    });
    const mine = async (when: string) => {
      const [x, other] = await reachAll(lab, lab.outsideNsPath, [
        { ip: HOST_IP, port: 8080, bind: WEB_IP },
        { ip: HOST_IP, port: 8080, bind: OUTSIDE_IP },
      ]);
      assert.equal(`x:${x!.ok} other:${other!.ok}`, "x:false other:true", `${when}: the user's chain drops ${WEB_IP} only`);
      assert.match(await lab.inHostOk(["nft", "list", "chain", "inet", "berth", "mine"]), /comment "mine"/, when);
      assert.match(await lab.inHostOk(["nft", "list", "chain", "inet", "berth", "user-forward"]), /jump mine/, when);
    };
    await sleep(1000); // the guard looks at this change too: it must leave it alone
    await mine("at once");
    assert.doesNotMatch(lab.berthdLog().slice(mark), /behind berth's back/, "a user's chain is not drift");
    await lab.restartBerthd();
    await mine("after a berthd restart");
    const oldMonitor = await monitorPid(lab);
    await lab.killBerthd();
    await lab.startBerthd();
    await mine("after SIGKILL and a new berthd");
    // The killed berthd's monitor ends at the next ruleset change (its pipe is closed).
    await lab.inHostOk(["nft", "add", "table", "inet", "hkdpoke"]);
    await lab.inHostOk(["nft", "delete", "table", "inet", "hkdpoke"]);
    await waitGone(lab, oldMonitor);
    await lab.inHostOk(["nft", "-f", "-"], { input: "flush chain inet berth user-forward\ndelete chain inet berth mine\n" });

    // iptables FORWARD policy DROP while berthd runs (ufw, Docker).
    mark = lab.berthdLog().length;
    await lab.inHostOk(["iptables", "-P", "FORWARD", "DROP"]);
    await waitLog(lab, /iptables FORWARD drops forwarded traffic: inserted/, "iptables -P FORWARD DROP", mark);
    await waitReaches(lab, "after iptables -P FORWARD DROP", 8080);
    assert.match(await lab.inHostOk(["iptables", "-S", "FORWARD"]), /^-P FORWARD DROP$/m, "the policy is left as it was");

    // A new nft table whose forward chain drops.
    mark = lab.berthdLog().length;
    await lab.inHostOk(["nft", "-f", "-"], { input: "table inet other {\n chain fdrop {\n type filter hook forward priority 0; policy drop;\n }\n}\n" });
    await waitLog(lab, /nft chain inet other fdrop drops forwarded traffic: inserted/, "nft drop chain", mark);
    await waitReaches(lab, "after a new nft table dropping forwarded traffic", 8080);

    // The monitor dies: berthd starts another one and keeps watching.
    mark = lab.berthdLog().length;
    process.kill(await monitorPid(lab), "SIGKILL");
    await waitLog(lab, /nft monitor exited .*starting it again/, "monitor killed", mark);
    await waitLog(lab, /nft monitor started/, "monitor restarted", mark);
    await lab.inHostOk(["nft", "flush", "ruleset"]);
    await waitReaches(lab, "after nft flush ruleset with a restarted monitor", 8080);
  });
});

test("S19b legacy iptables: a FORWARD DROP policy set while berthd runs is found by polling, without nft monitor", async () => {
  // berthd finds `iptables` through PATH: here it is iptables-legacy (x_tables), whose changes
  // never show in nft monitor.
  const bin = mkdtempSync("/tmp/hkd-legacy-bin-");
  symlinkSync("/usr/sbin/iptables-legacy", join(bin, "iptables"));
  const path = process.env["PATH"];
  process.env["PATH"] = `${bin}:${path}`;
  try {
    await withLab("p245l", {}, async (lab) => {
      await runServer(lab, "web1", ["-p", "8080:80"], [{ proto: "tcp", port: 80 }]);
      await waitReaches(lab, "legacy: at start", 8080);
      const mark = lab.berthdLog().length;
      await lab.inHostOk(["iptables-legacy", "-P", "FORWARD", "DROP"]);
      await waitLog(lab, /iptables FORWARD drops forwarded traffic: inserted/, "iptables-legacy -P FORWARD DROP", mark);
      await waitReaches(lab, "after iptables-legacy -P FORWARD DROP", 8080);
      const fwd = await lab.inHostOk(["iptables-legacy", "-S", "FORWARD"]);
      assert.match(fwd, /^-P FORWARD DROP$/m, fwd);
      assert.match(fwd, /berth: accept traffic that berth accepted/, `berth's rule is in the legacy chain:\n${fwd}`);
      assert.match(lab.berthdLog(), /as planned \((first look at )?iptables \(legacy\) FORWARD( changed)?\)/, "found by the poll");
    });
  } finally {
    process.env["PATH"] = path;
    rmSync(bin, { recursive: true, force: true });
  }
});

/** PID of berthd's `nft monitor` child. */
async function monitorPid(lab: Lab): Promise<number> {
  const ppid = lab.berthdPid;
  assert.ok(ppid, "berthd runs");
  const t0 = Date.now();
  for (;;) {
    const ps = await lab.inHostOk(["ps", "-o", "pid=,args=", "--ppid", String(ppid)]);
    const line = ps.split("\n").find((l) => /\bnft monitor\b/.test(l));
    if (line) return Number(line.trim().split(/\s+/)[0]);
    if (Date.now() - t0 > BOUND_MS) assert.fail(`berthd (pid ${ppid}) has no nft monitor child:\n${ps}`);
    await sleep(100);
  }
}

async function waitGone(lab: Lab, pid: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() - t0 > BOUND_MS) assert.fail(`the nft monitor of the killed berthd (pid ${pid}) still runs after a ruleset change`);
    await sleep(100);
  }
}
