// S32, seed 003's load balancer by hand: web1 and web2 on an internal network, an HAProxy
// sandbox with the user's own haproxy.cfg naming web1 and web2, run on the internal network with
// -p 80:80 and then connected to the default bridge. The VIP answers from the outside, round
// robin over both, and the stats page at /lbstats shows both back-ends UP.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { sleep } from "./lab-exec.js";
import { ipOn } from "./foundation.js";
import { HOST_IP, portLines, runServer, waitListening } from "./publish-helpers.js";

test("S32 seed 003 by hand: haproxy on an internal network, connected to bridge, VIP and /lbstats from outside", async () => {
  await withLab("lb500", {}, async (lab) => {
    const out = lab.outsideNsPath;
    await lab.berthOk(["network", "create", "--internal", "back"]);
    await runServer(lab, "web1", ["--network", "back"], [{ proto: "http", port: 80 }]);
    await runServer(lab, "web2", ["--network", "back"], [{ proto: "http", port: 80 }]);
    const ips = new Map([[await ipOn(lab, "web1", "back"), "web1"], [await ipOn(lab, "web2", "back"), "web2"]]);

    // The user's own haproxy.cfg: servers named by their sandbox names (berth's DNS resolves them).
    const cfg = join(lab.dir, "haproxy.cfg");
    writeFileSync(
      cfg,
      [
        "global",
        `    stats socket ${join(lab.dir, "haproxy.sock")} mode 600 level admin`,
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 10s",
        "    timeout server 10s",
        "frontend vip",
        "    bind :80",
        "    stats enable",
        "    stats uri /lbstats",
        "    default_backend webs",
        "backend webs",
        "    balance roundrobin",
        "    option httpchk GET /",
        "    server web1 web1:80 check inter 500ms",
        "    server web2 web2:80 check inter 500ms",
        "",
      ].join("\n"),
    );
    await lab.berthOk(["run", "-d", "--name", "haproxy", "--network", "back", "-p", "80:80", "--", "haproxy", "-W", "-db", "-f", cfg]);
    await waitListening(lab, "haproxy", [{ proto: "tcp", port: 80 }]);
    assert.deepEqual(await portLines(lab, "haproxy"), [], "on the internal network alone, -p 80:80 is ignored (as in Docker)");

    await lab.berthOk(["network", "connect", "bridge", "haproxy"]);
    assert.deepEqual(await portLines(lab, "haproxy"), ["80/tcp -> 0.0.0.0:80"]);

    // The stats page from the outside: both back-ends UP once their first checks pass.
    type Row = Record<string, string>;
    const stats = async (): Promise<Row[]> => {
      const r = await lab.httpGet(out, `http://${HOST_IP}/lbstats;csv`);
      if (r.status !== 200) return [];
      const [head, ...rows] = r.data.trim().split("\n");
      const cols = (head ?? "").replace(/^# /, "").split(",");
      return rows.map((line) => Object.fromEntries(line.split(",").map((v, i) => [cols[i] ?? String(i), v])));
    };
    let rows: Row[] = [];
    const deadline = Date.now() + 15_000;
    for (;;) {
      rows = await stats();
      const up = rows.filter((r) => r.pxname === "webs" && ["web1", "web2"].includes(r.svname ?? "") && r.status === "UP");
      if (up.length === 2) break;
      if (Date.now() > deadline) assert.fail(`both servers must be UP on /lbstats within 15 s:\n${JSON.stringify(rows, null, 1)}`);
      await sleep(250);
    }
    assert.ok(rows.some((r) => r.pxname === "vip" && r.svname === "FRONTEND" && r.status === "OPEN"), "the frontend is OPEN");
    const html = await lab.httpGet(out, `http://${HOST_IP}/lbstats`);
    assert.equal(html.status, 200);
    assert.match(html.data, /Statistics Report/, "the HTML stats page");

    // The VIP from the outside, round robin over both.
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await lab.httpGet(out, `http://${HOST_IP}/`);
      assert.equal(r.status, 200, JSON.stringify(r));
      const local = (JSON.parse(r.data.trim().split("\n")[0] ?? "{}") as { local?: string }).local ?? "";
      const name = ips.get(local);
      assert.ok(name, `answered by ${local}, not web1 or web2: ${r.data}`);
      seen.add(name);
    }
    assert.deepEqual([...seen].sort(), ["web1", "web2"], "round robin over both back-ends");

    // web2 stops: the stats page shows it DOWN and every request still gets a 200 from web1.
    await lab.berthOk(["stop", "-t", "0", "web2"]);
    const down = Date.now() + 15_000;
    for (;;) {
      rows = await stats();
      if (rows.some((r) => r.svname === "web2" && (r.status ?? "").startsWith("DOWN"))) break;
      if (Date.now() > down) assert.fail(`web2 must go DOWN on /lbstats:\n${JSON.stringify(rows, null, 1)}`);
      await sleep(250);
    }
    for (let i = 0; i < 4; i++) {
      const r = await lab.httpGet(out, `http://${HOST_IP}/`);
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.match(r.data, new RegExp(`"local":"${[...ips].find(([, n]) => n === "web1")![0].replace(/\./g, "\\.")}"`));
    }
  });
});
