// The multi-host e2e lab: several berth "machines", one etcd cluster, one underlay, all in
// network namespaces on this machine (never the machine's own).
//
//   <name>-ul     the underlay "switch": bridge br0 (10.99.0.254/24, so probes can run from it).
//   <name>-e1..3  etcd members (Debian's etcd 3.4): eth0 = 10.99.0.11..13/24, data dirs
//                 <dir>/e1..3, logs <dir>/e1..3.log. Client URLs http://10.99.0.1X:2379.
//   hosts         one Lab (see lab.ts) per host, prefix <name>h<i>: its own host and outside
//                 namespaces and berthd, plus `ul0` = 10.99.0.(20+i)/24 on the underlay.
//                 berthd gets --cluster-store etcd://10.99.0.11:2379,... --advertise-addr
//                 10.99.0.(20+i) --node-name h<i> --lease-ttl <leaseTtl>.
//
// API
//   Cluster.create({prefix?, hosts? = 3, leaseTtl? = 5, berthdArgs?, startBerthd? = true})
//   withCluster(prefix, opts, async (c) => ...)     create, run, ALWAYS destroy
//   c.hosts[i]: Lab; c.etcdEndpoints ("10.99.0.11:2379,..."); c.etcdctl(args) (from the underlay)
//   c.killMember(i) (SIGKILL), c.startMember(i) (same data dir), c.waitEtcdHealthy(), c.memberPid(i)
//   c.killHost(i): SIGKILL its berthd and delete all its namespaces (a machine that dies)
//   c.destroy(): every host lab, then etcd, the underlay and the dir; throws if anything leaked.
//   c.logs(lines?): the tail of every berthd log (BERTH_LAB_LOG_LINES, default 25), for failures.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { type BgProcess, describeFailure, type PidTracker, run, type RunResult, sleep, spawnBg } from "./lab-exec.js";
import { teardownSync } from "./lab-teardown.js";
import { Lab } from "./lab.js";

export const UNDERLAY_PREFIX = "10.99.0";
export const UNDERLAY_MTU = 1500;
export const memberIp = (i: number): string => `${UNDERLAY_PREFIX}.${10 + i}`;
export const hostUnderlayIp = (i: number): string => `${UNDERLAY_PREFIX}.${20 + i}`;

export interface ClusterOptions {
  /** 1-3 of [a-z0-9] starting with a letter; 3 random hex digits are appended. Default "mh". */
  prefix?: string;
  /** Number of berth hosts (1-20; past 9 the prefix must be 1-2 characters, so that each
   * host lab's prefix <name>h<i> stays within Lab's 8). Default 3. */
  hosts?: number;
  /** --lease-ttl for every berthd (seconds). Default 5. */
  leaseTtl?: number;
  /** Extra berthd arguments on every host. */
  berthdArgs?: string[];
  /** Start berthd on every host at once. Default true. */
  startBerthd?: boolean;
  /** Extra etcd arguments on every member (e.g. --quota-backend-bytes for a big lab). */
  etcdArgs?: string[];
}

export class Cluster implements PidTracker {
  readonly name: string;
  readonly dir: string;
  readonly underlayNs: string;
  readonly hosts: Lab[] = [];
  readonly etcdEndpoints = [1, 2, 3].map((i) => `${memberIp(i)}:2379`).join(",");
  private readonly pids = new Set<number>();
  private readonly members = new Map<number, BgProcess>();
  private readonly createdAtMs = Date.now();
  destroyed = false;

  private constructor(name: string, dir: string, readonly opts: ClusterOptions) {
    this.name = name;
    this.dir = dir;
    this.underlayNs = `${name}-ul`;
  }

  add(pid: number): void {
    this.pids.add(pid);
  }
  delete(pid: number): void {
    this.pids.delete(pid);
  }

  static async create(opts: ClusterOptions = {}): Promise<Cluster> {
    const prefix = opts.prefix ?? "mh";
    if (!/^[a-z][a-z0-9]{0,2}$/.test(prefix)) throw new Error(`cluster prefix ${JSON.stringify(prefix)}: want 1-3 of [a-z0-9], starting with a letter`);
    const n = opts.hosts ?? 3;
    if (!Number.isInteger(n) || n < 1 || n > 20) throw new Error(`cluster: hosts must be 1-20, not ${n}`);
    if (`${prefix}123h${n}`.length > 8) throw new Error(`cluster: with ${n} hosts the prefix must be at most ${8 - 4 - String(n).length} characters, not ${JSON.stringify(prefix)}`);
    let name = "";
    for (let i = 0; i < 20 && !name; i++) {
      const c = prefix + randomBytes(2).toString("hex").slice(0, 3);
      if (!existsSync(`/run/netns/${c}-ul`)) name = c;
    }
    if (!name) throw new Error(`cluster: no free name for prefix ${prefix}`);
    const cluster = new Cluster(name, mkdtempSync(`/tmp/berth-cluster-${name}-`), opts);
    // Host labs tear themselves down on exit/signals (lab.ts); etcd and the underlay here. The
    // exit handler is registered after Lab's, so on a signal Lab's handler exits first; both
    // run on 'exit'.
    process.once("exit", () => {
      if (!cluster.destroyed) cluster.teardownInfraNow();
    });
    try {
      await cluster.build(n);
    } catch (e) {
      await cluster.destroy().catch((d: Error) => {
        (e as Error).message += `\n(and destroying the half-built cluster failed: ${d.message})`;
      });
      throw e;
    }
    return cluster;
  }

  private async ip(...args: string[]): Promise<void> {
    const r = await run(["ip", ...args], { timeoutMs: 10_000 }, this);
    if (r.code !== 0) throw new Error(`cluster ${this.name}: ${describeFailure(r)}`);
  }

  /** A veth from the underlay bridge to `ns` (as eth-side `ifname`) with `addr`/24. */
  private async plug(ns: string, port: string, ifname: string, addr: string): Promise<void> {
    await this.ip("-n", this.underlayNs, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns);
    await this.ip("-n", this.underlayNs, "link", "set", port, "master", "br0", "up");
    await this.ip("-n", ns, "addr", "add", `${addr}/24`, "dev", ifname);
    await this.ip("-n", ns, "link", "set", ifname, "up");
    await this.ip("-n", ns, "link", "set", "lo", "up");
  }

  private async build(hosts: number): Promise<void> {
    await this.ip("netns", "add", this.underlayNs);
    await this.ip("-n", this.underlayNs, "link", "add", "br0", "type", "bridge");
    await this.ip("-n", this.underlayNs, "link", "set", "br0", "up");
    await this.ip("-n", this.underlayNs, "link", "set", "lo", "up");
    await this.ip("-n", this.underlayNs, "addr", "add", `${UNDERLAY_PREFIX}.254/24`, "dev", "br0");
    for (const i of [1, 2, 3]) {
      await this.ip("netns", "add", `${this.name}-e${i}`);
      await this.plug(`${this.name}-e${i}`, `ul-e${i}`, "eth0", memberIp(i));
    }
    await Promise.all([1, 2, 3].map((i) => this.startMember(i)));
    await this.waitEtcdHealthy();
    for (let i = 1; i <= hosts; i++) {
      const lab = await Lab.create({ prefix: `${this.name}h${i}`, startBerthd: false, berthdArgs: this.opts.berthdArgs ?? [] });
      this.hosts.push(lab);
      await this.plug(lab.hostNs, `ul-h${i}`, "ul0", hostUnderlayIp(i));
    }
    if (this.opts.startBerthd ?? true) await Promise.all(this.hosts.map((_, i) => this.startBerthd(i)));
  }

  /** berthd's cluster flags for host index `i` (0-based). */
  clusterArgs(i: number): string[] {
    return [
      "--cluster-store", `etcd://${this.etcdEndpoints}`,
      "--advertise-addr", hostUnderlayIp(i + 1),
      "--node-name", `h${i + 1}`,
      "--lease-ttl", String(this.opts.leaseTtl ?? 5),
    ];
  }

  startBerthd(i: number, extra: string[] = []): Promise<void> {
    const lab = this.hosts[i];
    if (!lab) throw new Error(`cluster ${this.name}: no host ${i}`);
    return lab.startBerthd([...this.clusterArgs(i), ...extra]);
  }

  async startMember(i: number): Promise<void> {
    if (this.members.get(i)?.running()) throw new Error(`etcd member e${i} already runs`);
    const a = memberIp(i);
    const initial = [1, 2, 3].map((k) => `e${k}=http://${memberIp(k)}:2380`).join(",");
    const argv = [
      "nsenter", `--net=/run/netns/${this.name}-e${i}`, "--",
      "etcd", "--name", `e${i}`, "--data-dir", join(this.dir, `e${i}`),
      "--listen-peer-urls", `http://${a}:2380`, "--initial-advertise-peer-urls", `http://${a}:2380`,
      "--listen-client-urls", `http://${a}:2379`, "--advertise-client-urls", `http://${a}:2379`,
      "--initial-cluster", initial, "--initial-cluster-token", this.name, "--initial-cluster-state", "new",
      ...(this.opts.etcdArgs ?? []),
    ];
    this.members.set(i, await spawnBg(argv, { name: `etcd-e${i}`, logPath: join(this.dir, `e${i}.log`) }, this));
  }

  /** The pid of member `i` (1-3) while it runs. */
  memberPid(i: number): number | undefined {
    const m = this.members.get(i);
    return m?.running() ? m.pid : undefined;
  }

  /** SIGKILL one member (its data dir stays for startMember). */
  async killMember(i: number): Promise<void> {
    const m = this.members.get(i);
    if (!m?.running()) return;
    process.kill(m.pid, "SIGKILL");
    await m.exited;
  }

  /** etcdctl from the underlay namespace, with short timeouts. */
  etcdctl(args: readonly string[], endpoints = this.etcdEndpoints): Promise<RunResult> {
    return run(
      ["nsenter", `--net=/run/netns/${this.underlayNs}`, "--", "etcdctl", `--endpoints=${endpoints}`, "--dial-timeout=1s", "--command-timeout=2s", ...args],
      { timeoutMs: 10_000, env: { ...process.env, ETCDCTL_API: "3" } },
      this,
    );
  }

  async waitEtcdHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: RunResult | undefined;
    for (;;) {
      last = await this.etcdctl(["endpoint", "health"]);
      if (last.code === 0) return;
      if (Date.now() > deadline) throw new Error(`cluster ${this.name}: etcd not healthy after ${timeoutMs} ms: ${describeFailure(last)}`);
      await sleep(200);
    }
  }

  /** A machine dies: its berthd SIGKILLed and every one of its namespaces removed. */
  async killHost(i: number): Promise<void> {
    const lab = this.hosts[i];
    if (!lab) throw new Error(`cluster ${this.name}: no host ${i}`);
    await lab.killBerthd();
    const leaks = lab.teardownNow();
    if (leaks.length) throw new Error(`killing host ${i}: ${leaks.join("; ")}`);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const problems: string[] = [];
    for (const lab of this.hosts) {
      try {
        await lab.destroy();
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    for (const m of this.members.values()) if (m.running()) await m.stop("SIGTERM", 3000);
    problems.push(...this.teardownInfraNow());
    if (problems.length) throw new Error(`cluster ${this.name} teardown left things behind:\n  ${problems.join("\n  ")}`);
  }

  /** Synchronous: etcd members, the underlay, the dir. Returns what is left. */
  teardownInfraNow(): string[] {
    this.destroyed = true;
    return teardownSync({ name: this.name, dir: this.dir, execRoot: join(this.dir, "exec"), dataRoot: join(this.dir, "data"), pids: [...this.pids], createdAtMs: this.createdAtMs });
  }

  /** The last lines of every berthd log and etcd log, for a failing test. */
  logs(lines = Number(process.env["BERTH_LAB_LOG_LINES"] ?? 25)): string {
    const tail = (t: string) => t.trimEnd().split("\n").slice(-lines).join("\n");
    return this.hosts.map((h, i) => `--- berthd h${i + 1} (${h.name}):\n${tail(h.berthdLog())}`).join("\n");
  }
}

/** Creates a cluster, runs `fn`, always destroys it; berthd logs are added to a failure. */
export async function withCluster<T>(prefix: string, opts: Omit<ClusterOptions, "prefix">, fn: (c: Cluster) => Promise<T>): Promise<T> {
  const c = await Cluster.create({ ...opts, prefix });
  let result: T;
  try {
    result = await fn(c);
  } catch (e) {
    const logs = c.logs();
    let extra = "";
    try {
      await c.destroy();
    } catch (d) {
      extra = `\n(and then: ${(d as Error).message})`;
    }
    if (e instanceof Error) e.message += `${extra}\n${logs}`;
    throw e;
  }
  await c.destroy();
  return result;
}

/** Polls `probe` until it returns a value (not undefined) or `timeoutMs` passes; the error says `what`. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${lastErr ? ` (last error: ${lastErr})` : ""}`);
    await sleep(100);
  }
}
