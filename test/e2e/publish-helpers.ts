// Helpers for the firewall-through-berthd suites (200-270): sandboxes whose own command is a
// peer server (it answers each client with the address it saw), waiting for it to listen,
// reading berth's nftables table, and asserting reachability with a readable message.

import assert from "node:assert/strict";
import { join } from "node:path";
import { fixturePath, HOST_IP, type Lab, type ProbeResult } from "./lab.js";
import { sleep } from "./lab-exec.js";

export { HOST_IP };

export type Proto = "tcp" | "udp" | "http";
export interface Listen {
  proto: Proto;
  port: number;
}

/** A `sh -c` command running one peer server per `listen` entry (the sandbox's own process). */
export function serverCmd(lab: Lab, name: string, listen: Listen[]): string[] {
  const parts = listen.map((l) => {
    const hits = join(lab.dir, `sb-${name}-${l.proto}-${l.port}.hits`);
    return `${process.execPath} ${fixturePath("peer-server")} --proto ${l.proto} --port ${l.port} --hits ${hits} &`;
  });
  return ["sh", "-c", `${parts.join(" ")} wait`];
}

/** `berth run -d --name NAME [flags] -- <peer servers>`, then waits until they all listen. */
export async function runServer(lab: Lab, name: string, flags: string[], listen: Listen[]): Promise<string> {
  const id = (await lab.berthOk(["run", "-d", "--name", name, ...flags, "--", ...serverCmd(lab, name, listen)])).trim();
  await waitListening(lab, name, listen);
  return id;
}

/** Polls `ss` in the sandbox's namespace until every port listens (10 s at most). */
export async function waitListening(lab: Lab, name: string, listen: Listen[]): Promise<void> {
  const ns = await lab.sandboxNs(name);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const tcp = await lab.inNsOk(ns, ["ss", "-Hltn"]);
    const udp = await lab.inNsOk(ns, ["ss", "-Hlun"]);
    const missing = listen.filter((l) => !new RegExp(`:${l.port}\\s`).test(l.proto === "udp" ? udp : tcp));
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${name}: not listening on ${missing.map((m) => `${m.port}/${m.proto}`).join(", ")}:\n${tcp}\n${udp}`);
    await sleep(100);
  }
}

/** A field of the JSON line a peer server answered with ("" if none). */
export function reported(r: ProbeResult, field: "peer" | "local"): string {
  const line = r.data.trim().split("\n")[0] ?? "";
  try {
    return (JSON.parse(line) as Record<string, string | undefined>)[field] ?? "";
  } catch {
    return "";
  }
}

/** The peer address a peer server reported in a probe's data ("" if none). */
export function peerOf(r: ProbeResult): string {
  return reported(r, "peer");
}

/** Connects (tcp), sends a datagram (udp) or GETs / (http); the probe result. */
export function probe(lab: Lab, nsPath: string, proto: Proto, ip: string, port: number, timeoutMs = 2000): Promise<ProbeResult> {
  if (proto === "udp") return lab.udpSend(nsPath, ip, port, { timeoutMs });
  if (proto === "http") return lab.httpGet(nsPath, `http://${ip}:${port}/`, { timeoutMs });
  return lab.tcpConnect(nsPath, ip, port, { timeoutMs });
}

/** Asserts that a peer server answers (and, if given, that it saw `peer`); returns the peer seen. */
export async function assertReaches(lab: Lab, what: string, nsPath: string, proto: Proto, ip: string, port: number, peer?: string): Promise<string> {
  const r = await probe(lab, nsPath, proto, ip, port);
  assert.ok(r.ok && r.data.includes("peer"), `${what}: ${proto} ${ip}:${port} should answer: ${JSON.stringify(r)}`);
  const seen = peerOf(r);
  if (peer !== undefined) assert.equal(seen, peer, `${what}: the server saw ${seen}, want ${peer}`);
  return seen;
}

/** Asserts that nothing answers. */
export async function assertBlocked(lab: Lab, what: string, nsPath: string, proto: Proto, ip: string, port: number): Promise<void> {
  const r = await probe(lab, nsPath, proto, ip, port, 1200);
  assert.ok(!(r.ok && r.data.includes("peer")), `${what}: ${proto} ${ip}:${port} should NOT answer, but: ${JSON.stringify(r)}`);
}

/** `berth port NAME` as sorted lines. */
export async function portLines(lab: Lab, name: string): Promise<string[]> {
  return (await lab.berthOk(["port", name])).trim().split("\n").filter(Boolean).sort();
}

/** The host port of `berth port NAME PORT` (first line, "IP:PORT"). */
export async function hostPortOf(lab: Lab, name: string, port: string): Promise<{ ip: string; port: number }> {
  const line = (await lab.berthOk(["port", name, port])).trim().split("\n")[0] ?? "";
  const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(line);
  assert.ok(m, `berth port ${name} ${port}: ${JSON.stringify(line)}`);
  return { ip: m[1]!, port: Number(m[2]) };
}

interface NftObject {
  [kind: string]: Record<string, unknown>;
}

/** `nft -j list table inet berth` in the lab host; undefined when the table does not exist. */
export async function berthTable(lab: Lab): Promise<NftObject[] | undefined> {
  const r = await lab.inHost(["nft", "-j", "list", "table", "inet", "berth"]);
  if (r.code !== 0) {
    assert.match(r.stderr, /No such file or directory|does not exist/i, `nft list table: ${r.stderr}`);
    return undefined;
  }
  return (JSON.parse(r.stdout) as { nftables: NftObject[] }).nftables;
}

/** Number of `rule` objects in berth's table (0 if absent). */
export async function ruleCount(lab: Lab): Promise<number> {
  return ((await berthTable(lab)) ?? []).filter((o) => "rule" in o).length;
}

/** Set/map elements of berth's table, as "set: element" strings, sorted (for before/after). */
export async function tableElements(lab: Lab): Promise<string[]> {
  const out: string[] = [];
  for (const o of (await berthTable(lab)) ?? []) {
    const s = (o["set"] ?? o["map"]) as { name: string; elem?: unknown[] } | undefined;
    if (!s) continue;
    for (const e of s.elem ?? []) out.push(`${s.name}: ${JSON.stringify(e)}`);
  }
  return out.sort();
}

/** The kernel's ephemeral range in the lab host. */
export async function ephemeralRange(lab: Lab): Promise<[number, number]> {
  const [lo, hi] = (await lab.inHostOk(["cat", "/proc/sys/net/ipv4/ip_local_port_range"])).trim().split(/\s+/).map(Number);
  return [lo!, hi!];
}

export interface Target {
  ip: string;
  port: number;
  /** Source address to bind to. */
  bind?: string;
}
export interface Reach extends Target {
  ok: boolean;
  peer: string;
  error: string;
}

const REACH_ALL = `
const net = await import("node:net");
const [targetsJson, timeoutText] = process.argv.slice(1);
const timeout = Number(timeoutText);
const one = (t) => new Promise((resolve) => {
  let data = "";
  let done = false;
  const finish = (error) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    sock.destroy();
    let peer = "";
    try { peer = JSON.parse(data.split("\\n")[0]).peer ?? ""; } catch {}
    resolve({ ...t, ok: peer !== "", peer, error: peer ? "" : (error || "no answer") });
  };
  const sock = net.connect({ host: t.ip, port: t.port, ...(t.bind ? { localAddress: t.bind } : {}) });
  const timer = setTimeout(() => finish("ETIMEDOUT"), timeout);
  sock.on("data", (b) => { data += b; if (data.includes("\\n")) finish(""); });
  sock.on("error", (e) => finish(e.code || e.message));
  sock.on("close", () => finish("closed"));
});
process.stdout.write(JSON.stringify(await Promise.all(JSON.parse(targetsJson).map(one))) + "\\n");
`;

/** Connects to every target at once (tcp, from `nsPath`) and tells which peer servers answered. */
export async function reachAll(lab: Lab, nsPath: string, targets: Target[], timeoutMs = 1500): Promise<Reach[]> {
  const r = await lab.inNs(nsPath, [process.execPath, "--input-type=module", "-e", REACH_ALL, JSON.stringify(targets), String(timeoutMs)], { timeoutMs: timeoutMs + 15_000 });
  assert.equal(r.code, 0, `reachAll in ${nsPath}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Reach[];
}
