// Small helpers shared by the foundation e2e suites (100-180): inspect shortcuts, the host
// namespace's berth interfaces, a web root for busybox httpd, "nothing changed" snapshots.

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Lab, RunResult } from "./lab.js";

/** Where a sandbox's endpoint on one network sits, as `berth inspect` shows it. */
export interface EndpointJson {
  IPAMConfig: { IPv4Address?: string } | null;
  Aliases: string[] | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  MacAddress: string;
}

export interface SandboxJson {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; Pid: number; ExitCode: number };
  HostConfig: { NetworkMode: string };
  Config: { Hostname: string };
  NetworkSettings: {
    SandboxKey: string;
    IPAddress: string;
    Gateway: string;
    MacAddress: string;
    IPPrefixLen: number;
    Networks: Record<string, EndpointJson>;
  };
}

export interface NetworkJson {
  Name: string;
  Id: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  IPAM: { Driver: string; Config: Array<{ Subnet?: string; Gateway?: string; IPRange?: string }> };
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

export async function inspect(lab: Lab, name: string): Promise<SandboxJson> {
  const [j] = await lab.berthJson<SandboxJson[]>(["inspect", name]);
  assert.ok(j, `berth inspect ${name} printed an empty list`);
  return j;
}

export async function netInspect(lab: Lab, name: string): Promise<NetworkJson> {
  const [j] = await lab.berthJson<NetworkJson[]>(["network", "inspect", name]);
  assert.ok(j, `berth network inspect ${name} printed an empty list`);
  return j;
}

/** The sandbox's address on `net` (from berth inspect); fails if it has none. */
export async function ipOn(lab: Lab, name: string, net: string): Promise<string> {
  const j = await inspect(lab, name);
  const ip = j.NetworkSettings.Networks[net]?.IPAddress;
  assert.ok(ip, `${name} has no address on ${net}: ${JSON.stringify(j.NetworkSettings.Networks)}`);
  return ip;
}

/** Names of every interface in a namespace (ip -j link). */
export async function linksIn(lab: Lab, nsPath: string): Promise<string[]> {
  const out = await lab.inNsOk(nsPath, ["ip", "-j", "link", "show"]);
  return (JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}

/** IPv4 addresses (a.b.c.d/len) per interface in a namespace. */
export async function addrsIn(lab: Lab, nsPath: string): Promise<Record<string, string[]>> {
  const out = await lab.inNsOk(nsPath, ["ip", "-j", "-4", "addr", "show"]);
  const res: Record<string, string[]> = {};
  for (const l of JSON.parse(out) as Array<{ ifname: string; addr_info: Array<{ local: string; prefixlen: number }> }>) {
    res[l.ifname] = l.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
  }
  return res;
}

/** Interfaces with berth's names (berth0, berth-*, bv*) in the lab's host namespace. */
export async function berthLinks(lab: Lab): Promise<string[]> {
  return (await linksIn(lab, lab.hostNsPath)).filter((n) => /^(berth0|berth-|bv)/.test(n));
}

/** A directory with index.html = `body`, for `busybox httpd -f -p 80 -h DIR`. */
export function webRoot(lab: Lab, name: string, body: string): string {
  const dir = join(lab.dir, `www-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "index.html"), body);
  return dir;
}

/** `berth exec NAME -- busybox wget` of a URL, 3 s at most. */
export function wget(lab: Lab, from: string, url: string): Promise<RunResult> {
  return lab.berth(["exec", from, "--", "timeout", "3", "busybox", "wget", "-qO-", url], { timeoutMs: 10_000 });
}

/** `berth exec NAME -- busybox ping -c1 -W1 IP` succeeded. */
export async function pingFrom(lab: Lab, from: string, ip: string): Promise<boolean> {
  const r = await lab.berth(["exec", from, "--", "busybox", "ping", "-c", "1", "-W", "1", ip], { timeoutMs: 10_000 });
  return r.code === 0;
}

/** What a user can see of berth's state: network ls, ps -a, host interfaces. */
export interface Snapshot {
  networks: string;
  sandboxes: string;
  links: string[];
}

export async function snapshot(lab: Lab): Promise<Snapshot> {
  const nets = (await lab.berthOk(["network", "ls", "--format", "json"])).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const sbs = (await lab.berthOk(["ps", "-a", "--format", "json"])).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  // Status text changes with time ("Up 3 seconds"); what matters is which sandboxes, their state and networks.
  return {
    networks: JSON.stringify(nets.map((n) => [n["Name"], n["Driver"], n["Subnet"]]).sort()),
    sandboxes: JSON.stringify(sbs.map((s) => [s["Names"], s["State"], s["Networks"]]).sort()),
    links: await linksIn(lab, lab.hostNsPath),
  };
}

export function psJson(out: string): Array<Record<string, string>> {
  return out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Expect a failing berth command: exit code and a message on stderr. */
export function assertFails(r: RunResult, code: number, message: RegExp | string, what: string): void {
  assert.equal(r.code, code, `${what}: exit code ${r.code}, want ${code}; stdout=${r.stdout} stderr=${r.stderr}`);
  if (typeof message === "string") assert.ok(r.stderr.includes(message), `${what}: stderr lacks ${JSON.stringify(message)}: ${r.stderr}`);
  else assert.match(r.stderr, message, `${what}: stderr`);
}
