// The API fuzzed (issue 8): a live berthd in a lab gets BERTH_FUZZ_RUNS generated requests
// (default 2000, the CI run; the long run is 10000 or more, see README "Fuzzing"): valid
// requests of every route, the same with one field mutated, raw bodies, random methods and
// paths (fuzz-requests.ts). Then:
//   - every answer was 2xx, 3xx or 4xx, and every error had a JSON {"message": "..."} (a 5xx or a
//     hang fails at once, printing the request);
//   - berthd still answers;
//   - nothing outside berth's own directories changed (/etc, the lab's files);
//   - every berth interface, sandbox namespace and nftables element is accounted for by berthd's
//     state, and once everything is removed, the lab's interfaces and berth's table are as before.
// The seed is printed at the start and on failure; BERTH_FUZZ_SEED=N replays a run.

import assert from "node:assert/strict";
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { describeRequest, requestArb } from "./fuzz-requests.js";
import type { Lab } from "./lab.js";
import { withLab } from "./lab.js";
import { linksIn } from "./foundation.js";

const RUNS = Number(process.env["BERTH_FUZZ_RUNS"] ?? 2000);
const SEED = process.env["BERTH_FUZZ_SEED"] !== undefined ? Number(process.env["BERTH_FUZZ_SEED"]) : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;
/** Remove what the requests made every this many requests, so the run stays bounded. */
const CLEAN_EVERY = 150;

/** mtime, ctime and size of every file under dir (lstat: links are not followed). */
function fileStamps(dir: string, out = new Map<string, string>()): Map<string, string> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    out.set(p, `${st.mtimeMs}/${st.ctimeMs}/${st.size}/${st.mode}`);
    if (st.isDirectory()) fileStamps(p, out);
  }
  return out;
}

function changedFiles(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k) !== after.get(k)).sort();
}

/** Files a container engine could touch by mistake: these must not change at all. */
const GUARDED = /^\/etc\/(hosts|resolv\.conf|hostname|nsswitch\.conf|sysctl\.conf|sysctl\.d\/.*|nftables\.conf|iptables\/.*|network\/.*|netns\/.*|systemd\/network\/.*)$/;
/** What the generated requests carry: a file that contains one of these was written from a request. */
const MARKERS = ["hsa-pwn", "flush ruleset", "nameserver 1.2.3.4", "fz0", "fs0", "corp.example"];

/**
 * Changed files under /etc that berth may be to blame for: a guarded file, or any file holding
 * text from the requests. Other changes (a package installed by other work on the machine while
 * the run lasted) are only reported.
 */
function suspectChanges(changed: string[]): string[] {
  return changed.filter((f) => {
    if (GUARDED.test(f)) return true;
    try {
      const st = statSync(f);
      if (!st.isFile() || st.size > 1 << 20) return false;
      const text = readFileSync(f, "latin1");
      return MARKERS.some((m) => text.includes(m));
    } catch {
      return false;
    }
  });
}

/** The lab's own files outside berth's data and exec roots (resolv.conf given to berthd, ...). */
function labFiles(lab: Lab): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of readdirSync(lab.dir)) {
    const p = join(lab.dir, n);
    if (p === lab.dataRoot || p === lab.execRoot || n.endsWith(".log") || n === "berth.sock") continue;
    if (statSync(p).isFile()) out.set(p, readFileSync(p, "utf8"));
  }
  return out;
}

interface NetJson {
  Id: string;
  Name: string;
  Driver: string;
  Options: Record<string, string>;
  IPAM: { Config: Array<{ Subnet?: string }> };
  Containers: Record<string, { EndpointID: string }>;
}

/** berth's table as JSON objects without handles (which change on every rebuild). */
async function nftObjects(lab: Lab): Promise<string[]> {
  const out = await lab.inHostOk(["nft", "-j", "list", "table", "inet", "berth"]);
  const items = (JSON.parse(out) as { nftables: Array<Record<string, Record<string, unknown>>> }).nftables;
  return items
    .filter((i) => !("metainfo" in i))
    .map((i) => JSON.stringify(i, (k, v: unknown) => (k === "handle" || k === "counter" ? undefined : v)))
    .sort();
}

/** Interface names that appear anywhere in berth's table (verdict maps, rules). */
function ifNamesIn(nft: string[]): Set<string> {
  const out = new Set<string>();
  for (const o of nft) for (const m of o.matchAll(/"(berth0|berth-[A-Za-z0-9_.-]+|bv[0-9a-f]{12})"/g)) out.add(m[1]!);
  return out;
}

/** Subnets (prefixes) in berth's table: the masqueraded subnets of networks. */
function prefixesIn(nft: string[]): Set<string> {
  const out = new Set<string>();
  for (const o of nft) for (const m of o.matchAll(/\{"prefix":\{"addr":"([0-9.]+)","len":(\d+)\}\}/g)) out.add(`${m[1]}/${m[2]}`);
  return out;
}

/** What berth's state does not account for: interfaces, namespaces, nftables names and subnets. */
async function unaccounted(lab: Lab, baseline: string[]): Promise<string[]> {
  const out: string[] = [];
  const nets = (await lab.api("GET", "/networks")).json<NetJson[]>();
  const bridges = new Set(
    nets.filter((n) => n.Driver === "bridge").map((n) => n.Options["com.docker.network.bridge.name"] ?? `berth-${n.Id.slice(0, 9)}`),
  );
  const sbs = (await lab.api("GET", "/containers/json?all=1")).json<Array<{ Id: string; State: string }>>();
  const veths = new Set(nets.flatMap((n) => Object.values(n.Containers).map((c) => `bv${c.EndpointID.slice(0, 12)}`)));
  const running = new Set(sbs.filter((s) => s.State === "running").map((s) => s.Id.slice(0, 12)));
  for (const l of await linksIn(lab, lab.hostNsPath)) {
    if (/^(berth|bv)/.test(l) && !bridges.has(l) && !veths.has(l)) out.push(`interface ${l} is not a bridge or endpoint in berthd's state`);
  }
  for (const ns of readdirSync(join(lab.execRoot, "netns"))) {
    if (!running.has(ns)) out.push(`namespace ${ns} under the exec-root belongs to no running sandbox`);
  }
  const nft = await nftObjects(lab);
  for (const name of ifNamesIn(nft)) {
    if (!bridges.has(name) && !veths.has(name)) out.push(`berth's nftables table names ${name}, which no network has`);
  }
  const subnets = new Set(nets.flatMap((n) => n.IPAM.Config.map((c) => c.Subnet)));
  const constant = prefixesIn(baseline);
  for (const p of prefixesIn(nft)) if (!subnets.has(p) && !constant.has(p)) out.push(`berth's nftables table has subnet ${p}, which no network has`);
  return out;
}

/** Polls until check() gives nothing (or the time is up) and returns its last answer. */
async function settle<T>(check: () => Promise<T[]>, ms = 10_000): Promise<T[]> {
  const end = Date.now() + ms;
  for (;;) {
    const left = await check();
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Every berth interface, namespace and nft element must belong to something in berthd's state.
 * The kernel destroys a released namespace's veths asynchronously, so a just-exited sandbox's
 * interface may linger for a moment: only what is still there after 10 s is a leak.
 */
async function assertAccounted(lab: Lab, where: string, baseline: string[]): Promise<void> {
  const left = await settle(() => unaccounted(lab, baseline));
  if (left.length) {
    const sbs = (await lab.api("GET", "/containers/json?all=1")).text;
    assert.fail(`${where}: ${left.join("; ")}\nsandboxes: ${sbs.slice(0, 2000)}`);
  }
}

/** Removes every sandbox, user network and API-added host service. */
async function removeAll(lab: Lab): Promise<void> {
  for (const s of (await lab.api("GET", "/containers/json?all=1")).json<Array<{ Id: string }>>()) {
    const r = await lab.api("DELETE", `/containers/${s.Id}?force=1`);
    assert.ok(r.status < 300, `cleanup: rm ${s.Id}: ${r.status} ${r.text}`);
  }
  for (const n of (await lab.api("GET", "/networks")).json<NetJson[]>()) {
    if (["bridge", "host", "none"].includes(n.Name)) continue;
    const r = await lab.api("DELETE", `/networks/${n.Id}`);
    assert.ok(r.status < 300, `cleanup: network rm ${n.Name}: ${r.status} ${r.text}`);
  }
  for (const h of (await lab.api("GET", "/host-services")).json<string[]>()) {
    const name = h.split("=")[0]!;
    await lab.api("DELETE", `/host-services/${encodeURIComponent(name)}`);
  }
}

test(`fuzz: ${RUNS} generated API requests; berthd answers 2xx/4xx with messages and changes nothing it cannot account for`, { timeout: 120_000 + RUNS * 150 }, async () => {
  process.stdout.write(`# fuzz: seed ${SEED}, ${RUNS} requests (replay: BERTH_FUZZ_SEED=${SEED} BERTH_FUZZ_RUNS=${RUNS})\n`);
  await withLab("fz", {}, async (lab) => {
    const etcBefore = fileStamps("/etc");
    const labBefore = labFiles(lab);
    const linksBefore = await linksIn(lab, lab.hostNsPath);
    const nftBefore = await nftObjects(lab);
    const statuses = new Map<number, number>();
    let count = 0;
    try {
      await fc.assert(
        fc.asyncProperty(requestArb, async (req) => {
          count++;
          let r;
          try {
            r = await lab.apiRaw(req.method, req.path, req.body, 30_000);
          } catch (e) {
            throw new Error(`no answer to ${describeRequest(req)}: ${(e as Error).message}`);
          }
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          assert.ok(r.status >= 200 && r.status < 500, `${r.status} for ${describeRequest(req)}: ${r.text.slice(0, 500)}`);
          if (r.status >= 400 && req.method !== "HEAD") {
            let msg: unknown;
            try {
              msg = (JSON.parse(r.text) as { message?: unknown }).message;
            } catch {
              msg = undefined;
            }
            assert.ok(typeof msg === "string" && msg.length > 0, `${r.status} without a JSON message for ${describeRequest(req)}: ${r.text.slice(0, 300)}`);
          }
          if (count % CLEAN_EVERY === 0) {
            await assertAccounted(lab, `after ${count} requests`, nftBefore);
            await removeAll(lab);
          }
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    } catch (e) {
      process.stdout.write(`# fuzz FAILED: seed ${SEED} (replay: BERTH_FUZZ_SEED=${SEED} BERTH_FUZZ_RUNS=${RUNS})\n`);
      throw e;
    }
    process.stdout.write(`# fuzz: ${count} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}\n`);

    assert.equal((await lab.api("GET", "/_ping")).text, "OK", "berthd does not answer after the fuzz run");
    await assertAccounted(lab, "at the end", nftBefore);
    await removeAll(lab);
    const same = async <T>(now: () => Promise<T>, before: T): Promise<string[]> => (JSON.stringify(await now()) === JSON.stringify(before) ? [] : [JSON.stringify(await now())]);
    assert.deepEqual(await settle(() => same(() => linksIn(lab, lab.hostNsPath), linksBefore)), [], `interfaces left in the lab after everything was removed (before: ${linksBefore})`);
    assert.deepEqual(await settle(async () => readdirSync(join(lab.execRoot, "netns"))), [], "sandbox namespaces left after everything was removed");
    assert.deepEqual(await settle(() => same(() => nftObjects(lab), nftBefore)), [], "berth's nftables table differs from before the run");
    assert.deepEqual(labFiles(lab), labBefore, "the lab's own files changed");
    assert.equal((await lab.inHost(["test", "-e", "/tmp/hsa-pwn"])).code, 1, "a metacharacter value ran as a command");
    const etcChanged = changedFiles(etcBefore, fileStamps("/etc"));
    if (etcChanged.length) process.stdout.write(`# fuzz: /etc changed during the run (other work on the machine?): ${etcChanged.slice(0, 20).join(" ")}\n`);
    assert.deepEqual(suspectChanges(etcChanged), [], "files under /etc changed that berth may have written");
  });
});
