// Helpers of the health and service suites: waiting for a health status, reading it.
import assert from "node:assert/strict";
import type { Lab } from "./lab.js";

export interface HealthJson {
  Status: string;
  FailingStreak: number;
  Log: Array<{ Start: string; End: string; ExitCode: number; Output: string }>;
}

export async function healthOf(lab: Lab, name: string): Promise<HealthJson | undefined> {
  const [j] = await lab.berthJson<Array<{ State: { Health?: HealthJson } }>>(["inspect", name]);
  return j?.State.Health;
}

/** Polls until `pred` holds, failing with `what` and the last value seen after `timeoutMs`. */
export async function waitFor<T>(what: string, get: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await get();
    if (pred(last)) return last;
    if (Date.now() > end) assert.fail(`${what}: not reached in ${timeoutMs} ms; last seen ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function waitHealth(lab: Lab, name: string, status: string, timeoutMs = 30_000): Promise<HealthJson | undefined> {
  return waitFor(`${name} becomes ${status}`, () => healthOf(lab, name), (h) => h?.Status === status, timeoutMs);
}

import { join } from "node:path";
import { fixturePath } from "./lab.js";
import { peerOf, reported } from "./publish-helpers.js";
import type { ProbeResult } from "./lab.js";

/** A replica command: peer servers on TCP and UDP PORT that report the client and local address. */
export function replicaCmd(lab: Lab, port: number): string[] {
  const hits = join(lab.dir, "svc.hits");
  // UDP binds the replica's own address, so that its answers tell which replica it was.
  const bind = (proto: string) => (proto === "udp" ? ' --bind "$(hostname -i | cut -d" " -f1)"' : "");
  const srv = (proto: string) => `${process.execPath} ${fixturePath("peer-server")} --proto ${proto} --port ${port} --hits ${hits}${bind(proto)} &`;
  return ["sh", "-c", `${srv("tcp")} ${srv("udp")} wait`];
}

/** The local (replica) address a peer server reported in a probe's data ("" if none). */
export function localOf(r: ProbeResult): string {
  return reported(r, "local");
}

export { peerOf };

export interface TaskRow {
  ID: string;
  Name: string;
  CurrentState: string;
  Addresses: string;
}

export async function tasksOf(lab: Lab, svc: string): Promise<TaskRow[]> {
  const out = await lab.berthOk(["service", "ps", svc, "--format", "json"]);
  return out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as TaskRow);
}

/** Replica addresses on NET of the tasks whose CURRENT STATE matches `state`. */
export function addrsOn(tasks: TaskRow[], net: string): string[] {
  return tasks.flatMap((t) => t.Addresses.split(",").filter((a) => a.startsWith(`${net}=`)).map((a) => a.slice(net.length + 1).split("/")[0]!));
}

/** Waits until the service has `n` replicas, all running (and healthy when `healthy`). */
export function waitTasks(lab: Lab, svc: string, n: number, healthy: boolean, timeoutMs = 45_000): Promise<TaskRow[]> {
  return waitFor(
    `service ${svc} has ${n} running${healthy ? " healthy" : ""} replicas`,
    () => tasksOf(lab, svc),
    (ts) => ts.length === n && ts.every((t) => /^Running/.test(t.CurrentState) && (!healthy || /\(healthy\)/.test(t.CurrentState))),
    timeoutMs,
  );
}

export interface ServiceInspectJson {
  ID: string;
  Spec: { Name: string; Mode: { Replicated: { Replicas: number } }; EndpointSpec: { Mode: string } };
  Endpoint: { VirtualIPs: Array<{ NetworkID: string; Addr: string }> };
}

export async function serviceInspect(lab: Lab, svc: string): Promise<ServiceInspectJson> {
  const [j] = await lab.berthJson<ServiceInspectJson[]>(["service", "inspect", svc]);
  assert.ok(j, `service inspect ${svc}`);
  return j;
}
