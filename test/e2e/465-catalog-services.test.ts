// S25 with real service replicas: `berth service create --replicas 2` appears in the catalog with
// the replicas' addresses and target port once healthy; a Consul watch sees a scale-up within a
// second of the new replica turning healthy; `consul.local`, web.service.consul and
// _web._tcp.service.consul inside a sandbox; a template of the healthy replicas; a replica that
// fails its check leaves ?passing.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { netInspect } from "./foundation.js";
import { assertA, dig } from "./names-helpers.js";
import { consulClient, raw, waitFor } from "./catalog-helpers.js";
import { addrsOn, replicaCmd, waitTasks } from "./svc-helpers.js";

type HealthEntry = { Service: { ID: string; Address: string; Port: number; Meta: Record<string, string> }; Checks: Array<{ CheckID: string; Status: string }> };

test("S25 catalog with service replicas: healthy replicas listed, a watch sees a scale-up within a second, DNS and templates follow", async () => {
  await withLab("cgf465", { upstreamDns: true, berthdArgs: ["--catalog-host-service", "consul.local=169.254.32.1:80"] }, async (lab) => {
    const consul = consulClient(lab);
    try {
      await lab.berthOk(["network", "create", "app"]);
      const gw = (await netInspect(lab, "app")).IPAM.Config[0]!.Gateway!;
      await lab.berthOk(["service", "create", "--name", "web", "--replicas", "2", "--network", "app", "-p", "80", "--health-tcp", "80", "--health-interval", "300ms", "--health-retries", "1", "--", ...replicaCmd(lab, 80)]);
      const tasks = await waitTasks(lab, "web", 2, true);
      const ips = addrsOn(tasks, "app").sort();
      const listed = await waitFor("2 passing web replicas in the catalog", () => consul.health.service({ service: "web", passing: true }) as Promise<HealthEntry[]>, (l) => l.length === 2);
      assert.deepEqual(listed.map((e) => [e.Service.ID, e.Service.Address, e.Service.Port]).sort(), [["web.1", ips[0], 80], ["web.2", ips[1], 80]].sort());
      assert.deepEqual(await consul.catalog.service.list(), { web: [] });

      // A watch on the healthy replicas; scale to 3; the new replica shows within a second of turning healthy.
      const watch = consul.watch({ method: consul.health.service, options: { service: "web", passing: "true" } as never });
      const seen: Array<{ at: number; n: number }> = [];
      watch.on("change", (d: HealthEntry[]) => seen.push({ at: Date.now(), n: d.length }));
      watch.on("error", () => undefined);
      try {
        await waitFor("the watch's first answer", async () => seen.length, (n) => n >= 1);
        await lab.berthOk(["service", "scale", "web=3"]);
        const three = await waitFor("the watch seeing 3 replicas", async () => seen.find((s) => s.n === 3), (s) => s !== undefined, 30_000);
        const [w3] = await lab.berthJson<Array<{ State: { Health: { Log: Array<{ End: string; ExitCode: number }> } } }>>(["inspect", "web.3"]);
        const healthyAt = Date.parse(w3!.State.Health.Log.find((l) => l.ExitCode === 0)!.End);
        assert.ok(three!.at - healthyAt < 1000, `the watch saw web.3 ${three!.at - healthyAt} ms after its first passing check`);
      } finally {
        watch.end();
      }

      // From a sandbox: consul.local, and Consul's DNS names.
      await lab.berthOk(["run", "-d", "--name", "client", "--network", "app", "--", "sleep", "600"]);
      const all = addrsOn(await waitTasks(lab, "web", 3, true), "app").sort();
      const w = await lab.berth(["exec", "client", "--", "timeout", "5", "busybox", "wget", "-qO-", "http://consul.local/v1/health/service/web?passing"], { timeoutMs: 15_000 });
      assert.deepEqual((JSON.parse(w.stdout) as HealthEntry[]).map((e) => e.Service.Address).sort(), all, w.stdout + w.stderr);
      // DNS follows the replicas' health: under load one can fail a 300 ms check and come back, so
      // wait for the answer to name all three rather than take the first one.
      const sameSet = (d: { answers: string[] }) => JSON.stringify([...d.answers].sort()) === JSON.stringify(all);
      assertA(await waitFor("web.service.consul naming the 3 replicas", () => dig(lab, "client", gw, "web.service.consul"), sameSet, 30_000), all, "web.service.consul");
      await waitFor("3 SRV records", () => lab.berth(["exec", "client", "--", "dig", `@${gw}`, "+short", "-t", "SRV", "_web._tcp.service.consul"], { timeoutMs: 15_000 }), (r) => r.stdout.trim().split("\n").filter(Boolean).length === 3, 30_000);
      const srv = await lab.berth(["exec", "client", "--", "dig", `@${gw}`, "+noall", "+answer", "+additional", "+time=2", "+tries=1", "-t", "SRV", "_web._tcp.service.consul"], { timeoutMs: 15_000 });
      const srvLines = srv.stdout.split("\n").filter((l) => /\sSRV\s/.test(l));
      assert.equal(srvLines.length, 3, srv.stdout);
      for (const l of srvLines) assert.match(l, /SRV\s+1 1 80 [0-9a-f]{8}\.addr\.dc1\.consul\.$/, l);
      assert.deepEqual(srv.stdout.split("\n").filter((l) => /\.addr\.dc1\.consul\.\s.*\sA\s/.test(l)).map((l) => l.trim().split(/\s+/).at(-1)).sort(), all, srv.stdout);

      // A template of the healthy replicas.
      const tpl = join(lab.dir, "be.hbs");
      const out = join(lab.dir, "be.cfg");
      writeFileSync(tpl, '{{#each (service "web")}}server {{ID}} {{Address}}:{{Port}}\n{{/each}}');
      const r = await lab.berth(["template", "--once", "--template", `${tpl}:${out}`], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(readFileSync(out, "utf8").trim().split("\n").map((l) => l.split(" ")[2]!.split(":")[0]).sort(), all);

      // One replica stops answering its check: it leaves ?passing at once (before it is replaced).
      // Its TCP server is a child of its command's shell (replicaCmd): only that one is stopped.
      const [w1] = await lab.berthJson<Array<{ State: { Pid: number } }>>(["inspect", "web.1"]);
      const k = await lab.inHost(["pkill", "-P", String(w1!.State.Pid), "-f", "proto tcp"]);
      assert.equal(k.code, 0, `pkill: ${k.stderr}`);
      await waitFor("web.1 out of the passing list", async () => (JSON.parse((await raw(lab, "GET", "/v1/health/service/web?passing")).text) as HealthEntry[]).length, (n) => n < 3, 30_000);
    } finally {
      consul.destroy();
    }
  });
});
