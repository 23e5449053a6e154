// The e2e lab: a throw-away "machine" for berthd, built from network namespaces.
//
//   <name>-host  the machine berthd runs on. eth0 = 192.0.2.1/24, lo up, default route via
//                192.0.2.2 (so traffic for unknown addresses goes to the outside and dies there).
//   <name>-out   "the Internet": eth0 = 192.0.2.2/24 and 192.0.2.80/24 (www.example.test in the
//                fake DNS), lo up. A default route back via 192.0.2.1 only with
//                `outsideDefaultRoute: true`: by default the outside does NOT know the sandbox
//                subnets, as a real upstream does not (masquerade tests rely on it).
//   dir          /tmp/berth-lab-<name>-XXXXXX: data/ (data-root), exec/ (exec-root), berth.sock,
//                resolv.conf ("nameserver 192.0.2.2", given to berthd), berthd.log, other logs.
//
// <name> is the prefix you give (1-8 of [a-z0-9], starting with a letter) plus 3 random hex
// digits, so the same test file can run twice at once; namespaces are /run/netns/<name>-*.
//
// berthd runs as `nsenter --net=/run/netns/<name>-host node bin/berthd --data-root ... --exec-root
// ... --socket ... --resolv-conf ... --log-level debug [berthdArgs] [extra]`; its stdout and stderr
// go to berthd.log. The CLI runs in our own namespace and talks to the unix socket.
//
// API
//   Lab.create({prefix?, berthdArgs?, startBerthd? = true, outsideDefaultRoute? = false,
//               upstreamDns? = false | true | records, berthdBin?, berthdReadyTimeoutMs? = 30000})
//   withLab(prefix, opts, async (lab) => ...)       create, run, ALWAYS destroy (also on throw)
//
//   lab.berth(args, {timeoutMs?, input?})  -> RunResult {code, signal, stdout, stderr, timedOut}
//   lab.berthOk(args, opts?)               -> stdout; throws with stderr on failure
//   lab.berthJson<T>(args, opts?)          -> JSON.parse(stdout)
//   lab.api(method, path, body?)           -> {status, text, json()} straight over the socket
//   lab.apiRaw(method, path, text|Buffer?) -> the same with the body sent as given (bad JSON, ...)
//
//   lab.inNs(nsPath, argv, opts?) / inNsOk  run argv in a namespace (nsenter --net=nsPath)
//   lab.inHost(argv, opts?) / inHostOk, lab.inOutside(argv, opts?) / inOutsideOk
//   lab.hostNsPath, lab.outsideNsPath, lab.sandboxNsPath(id) = EXEC_ROOT/netns/<id or id[0:12]>
//   lab.sandboxNs(nameOrId) -> the netns path berthd reports for a running sandbox
//   lab.spawnIn(nsPath, argv, {name, readyPattern?}) -> BgProcess (tracked, killed at destroy)
//
//   Traffic (all run a small node client or server inside the given namespace):
//   lab.startServer(nsPath, {proto: "tcp"|"http"|"udp", port, bind?}) -> PeerServer
//       answers each client with JSON {peer, peerPort, local, localPort, ...}; server.hits()
//   lab.outsideServer(opts) = startServer(outsideNsPath, opts)
//   lab.tcpConnect(nsPath, ip, port, {timeoutMs?, send?})  -> ProbeResult {ok, error?, data, ...}
//   lab.udpSend(nsPath, ip, port, {timeoutMs?, send?})     -> ProbeResult
//   lab.httpGet(nsPath, url, {timeoutMs?, headers?})       -> ProbeResult with status
//   lab.dnsQuery(nsPath, server, name, {type?, tcp?})      -> ProbeResult with rcode, answers
//   lab.ping(nsPath, ip)                                   -> boolean (busybox ping, 1 packet)
//   lab.startUpstreamDns(records?) -> FakeDns on 192.0.2.2:53 udp+tcp; dns.queries();
//       also kept in lab.upstreamDns
//
//   lab.startBerthd(extra?), lab.stopBerthd() (SIGTERM, wait), lab.killBerthd() (SIGKILL),
//   lab.restartBerthd(extra?), lab.berthdLog() (kept after destroy), lab.berthdPid
//   withLab adds the tail of berthd's log to the error of a failing body.
//
//   lab.destroy(): stops berthd, kills every process in any of the lab's namespaces (its own,
//   and the sandbox namespaces its berthd made under EXEC_ROOT/netns), unmounts everything under
//   the lab dir, deletes the namespaces and the dir, then throws if anything is left. Idempotent.
//   If the test process gets SIGINT/SIGTERM/SIGHUP or exits with labs alive, they are torn down
//   synchronously first.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type BgProcess,
  childEnv,
  describeFailure,
  type Exit,
  type PidTracker,
  run,
  type RunOptions,
  type RunResult,
  sleep,
  spawnBg,
} from "./lab-exec.js";
import { DEFAULT_RECORDS, type DnsQueryLog, type DnsRecords } from "./fixtures/fake-upstream-dns.js";
import type { ProbeResult } from "./fixtures/net-probe.js";
import { teardownSync, type TeardownSpec } from "./lab-teardown.js";

export type { BgProcess, DnsQueryLog, DnsRecords, Exit, ProbeResult, RunOptions, RunResult };
export { DEFAULT_RECORDS };

/** Addresses of the lab's link between host and outside (TEST-NET-1). */
export const HOST_IP = "192.0.2.1";
export const OUTSIDE_IP = "192.0.2.2";
/** A second outside address; the fake DNS maps www.example.test to it. */
export const WEB_IP = "192.0.2.80";
/** The interface name of the host<->outside link, in both namespaces. */
export const UPLINK = "eth0";

export interface LabOptions {
  /** 1-8 of [a-z0-9], starting with a letter; 3 random hex digits are appended. Default "bl". */
  prefix?: string;
  /** Extra berthd arguments, on every start. */
  berthdArgs?: string[];
  /** Start berthd at once. Default true. */
  startBerthd?: boolean;
  /** Give the outside a default route via the host. Default false. */
  outsideDefaultRoute?: boolean;
  /** Start the fake upstream DNS before berthd: true for DEFAULT_RECORDS, or a table. Default false. */
  upstreamDns?: boolean | DnsRecords;
  /** The berthd script to run with node. Default <repo>/bin/berthd; the harness's own tests
   * use fixtures/fake-berthd.js. */
  berthdBin?: string;
  /** How long startBerthd waits for GET /_ping. Default 10 s. */
  berthdReadyTimeoutMs?: number;
}

export interface ServerOptions {
  proto: "tcp" | "http" | "udp";
  port: number;
  /** Default 0.0.0.0 */
  bind?: string;
}

export interface Hit {
  time: number;
  proto: string;
  peer: string;
  peerPort: number;
  local: string;
  localPort: number;
  method?: string;
  path?: string;
  host?: string;
  data?: string;
}

export interface PeerServer {
  readonly proc: BgProcess;
  readonly port: number;
  hits(): Hit[];
  stop(): Promise<Exit>;
}

export interface FakeDns {
  readonly proc: BgProcess;
  readonly records: DnsRecords;
  queries(): DnsQueryLog[];
  stop(): Promise<Exit>;
}

export interface ApiResponse {
  status: number;
  text: string;
  json<T = unknown>(): T;
}

const REPO_ROOT = findRepoRoot();
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** dist path of a compiled fixture, e.g. fixturePath("fake-berthd"). */
export function fixturePath(name: string): string {
  return join(FIXTURES, `${name}.js`);
}

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "berth") return dir;
      } catch {
        // keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("lab: cannot find the berth repository above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

function readJsonLines<T>(path: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

/** Labs not yet destroyed, torn down synchronously if the process is interrupted or exits. */
const liveLabs = new Set<Lab>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const emergency = (why: string) => {
    for (const lab of [...liveLabs]) {
      process.stderr.write(`lab ${lab.name}: ${why}, tearing down\n`);
      const leaks = lab.teardownNow();
      if (leaks.length) process.stderr.write(`lab ${lab.name} leaked:\n  ${leaks.join("\n  ")}\n`);
    }
  };
  process.on("exit", () => emergency("process exiting with the lab alive"));
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    process.once(sig, () => {
      emergency(`got ${sig}`);
      process.exit(code);
    });
  }
}

export class Lab implements PidTracker {
  readonly name: string;
  readonly dir: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly socketPath: string;
  readonly resolvConfPath: string;
  readonly berthdLogPath: string;
  readonly hostNs: string;
  readonly outsideNs: string;
  readonly hostNsPath: string;
  readonly outsideNsPath: string;
  readonly repoRoot = REPO_ROOT;
  /** BERTH_HOST for this lab's berthd. */
  readonly berthHost: string;
  /** The fake upstream DNS, once started (by the `upstreamDns` option or startUpstreamDns). */
  upstreamDns: FakeDns | undefined;

  private readonly opts: LabOptions;
  private readonly createdAtMs = Date.now();
  private readonly pids = new Set<number>();
  private berthd: BgProcess | undefined;
  private lastExtraArgs: string[] = [];
  private destroyed = false;
  private finalBerthdLog: string | undefined;
  private counter = 0;

  private constructor(name: string, dir: string, opts: LabOptions) {
    this.name = name;
    this.opts = opts;
    this.dir = dir;
    this.dataRoot = join(dir, "data");
    this.execRoot = join(dir, "exec");
    this.socketPath = join(dir, "berth.sock");
    this.resolvConfPath = join(dir, "resolv.conf");
    this.berthdLogPath = join(dir, "berthd.log");
    this.hostNs = `${name}-host`;
    this.outsideNs = `${name}-out`;
    this.hostNsPath = `/run/netns/${this.hostNs}`;
    this.outsideNsPath = `/run/netns/${this.outsideNs}`;
    this.berthHost = `unix://${this.socketPath}`;
  }

  static async create(opts: LabOptions = {}): Promise<Lab> {
    const prefix = opts.prefix ?? "bl";
    if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) {
      throw new Error(`lab prefix ${JSON.stringify(prefix)}: want 1-8 of [a-z0-9], starting with a letter`);
    }
    let name = "";
    for (let i = 0; i < 20 && !name; i++) {
      const candidate = prefix + randomBytes(2).toString("hex").slice(0, 3);
      if (!existsSync(`/run/netns/${candidate}-host`) && !existsSync(`/run/netns/${candidate}-out`)) name = candidate;
    }
    if (!name) throw new Error(`lab: no free namespace name for prefix ${prefix} (leaked labs? see \`ip netns list\`)`);
    const dir = mkdtempSync(`/tmp/berth-lab-${name}-`);
    const lab = new Lab(name, dir, opts);
    liveLabs.add(lab);
    installExitHandlers();
    try {
      await lab.build();
      if (opts.upstreamDns) await lab.startUpstreamDns(opts.upstreamDns === true ? undefined : opts.upstreamDns);
      if (opts.startBerthd ?? true) await lab.startBerthd();
    } catch (e) {
      await lab.destroy().catch((d: Error) => {
        (e as Error).message += `\n(and destroying the half-built lab failed: ${d.message})`;
      });
      throw e;
    }
    return lab;
  }

  private async build(): Promise<void> {
    mkdirSync(this.dataRoot);
    mkdirSync(this.execRoot);
    writeFileSync(this.resolvConfPath, `nameserver ${OUTSIDE_IP}\n`);
    const ip = async (...args: string[]) => {
      const r = await run(["ip", ...args], { timeoutMs: 10_000 }, this);
      if (r.code !== 0) throw new Error(`lab ${this.name}: ${describeFailure(r)}`);
    };
    await ip("netns", "add", this.hostNs);
    await ip("netns", "add", this.outsideNs);
    // Both ends are created inside the lab: nothing ever appears in the machine's namespace.
    await ip("-n", this.hostNs, "link", "add", UPLINK, "type", "veth", "peer", "name", UPLINK, "netns", this.outsideNs);
    for (const ns of [this.hostNs, this.outsideNs]) {
      await ip("-n", ns, "link", "set", "lo", "up");
      await ip("-n", ns, "link", "set", UPLINK, "up");
    }
    await ip("-n", this.hostNs, "addr", "add", `${HOST_IP}/24`, "dev", UPLINK);
    await ip("-n", this.outsideNs, "addr", "add", `${OUTSIDE_IP}/24`, "dev", UPLINK);
    await ip("-n", this.outsideNs, "addr", "add", `${WEB_IP}/24`, "dev", UPLINK);
    await ip("-n", this.hostNs, "route", "add", "default", "via", OUTSIDE_IP);
    if (this.opts.outsideDefaultRoute) await ip("-n", this.outsideNs, "route", "add", "default", "via", HOST_IP);
  }

  // PidTracker: every child the lab starts is recorded until it ends.
  add(pid: number): void {
    this.pids.add(pid);
  }
  delete(pid: number): void {
    this.pids.delete(pid);
  }

  private logPath(what: string): string {
    return join(this.dir, `${what}-${++this.counter}.log`);
  }

  // ---- berth CLI and API -------------------------------------------------------------------

  berth(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run([process.execPath, join(REPO_ROOT, "bin", "berth"), ...args], { ...opts, env: childEnv({ BERTH_HOST: this.berthHost, ...opts.env }) }, this);
  }

  async berthOk(args: readonly string[], opts: RunOptions = {}): Promise<string> {
    const r = await this.berth(args, opts);
    if (r.code !== 0 || r.timedOut) throw new Error(describeFailure(r));
    return r.stdout;
  }

  async berthJson<T = unknown>(args: readonly string[], opts: RunOptions = {}): Promise<T> {
    const out = await this.berthOk(args, opts);
    try {
      return JSON.parse(out) as T;
    } catch {
      throw new Error(`berth ${args.join(" ")}: output is not JSON:\n${out}`);
    }
  }

  /** One HTTP request to berthd's socket. `body` is sent as JSON. */
  api(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<ApiResponse> {
    return this.apiRaw(method, path, body === undefined ? undefined : JSON.stringify(body), timeoutMs);
  }

  /** Like api, with the body sent as given (not JSON, duplicate keys, huge): a Buffer or text. */
  apiRaw(method: string, path: string, body?: string | Buffer, timeoutMs = 30_000): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
      const req = http.request(
        {
          socketPath: this.socketPath,
          // A new connection per request: a kept-alive one can be closed by berthd's idle timeout
          // just as it is reused (EPIPE/ECONNRESET that would look like berthd's fault).
          agent: false,
          method,
          path,
          timeout: timeoutMs,
          headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (b: Buffer) => chunks.push(b));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            resolve({ status: res.statusCode ?? 0, text, json: <T>() => JSON.parse(text) as T });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer after ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  // ---- commands in namespaces --------------------------------------------------------------

  /** EXEC_ROOT/netns/<id or its first 12 digits>: the network namespace berthd made for a
   * sandbox (whichever exists; the short form if neither does). */
  sandboxNsPath(id: string): string {
    const dir = join(this.execRoot, "netns");
    if (existsSync(join(dir, id))) return join(dir, id);
    return join(dir, id.slice(0, 12));
  }

  /** The network namespace of a running sandbox, by name or id, as berthd reports it:
   * NetworkSettings.SandboxKey, or /proc/<main pid>/ns/net for one that shares another's. */
  async sandboxNs(ref: string): Promise<string> {
    const r = await this.api("GET", `/containers/${encodeURIComponent(ref)}/json`);
    if (r.status !== 200) throw new Error(`sandbox ${ref}: berthd answered ${r.status}: ${r.text}`);
    const j = r.json<{ NetworkSettings?: { SandboxKey?: string }; State?: { Pid?: number } }>();
    if (j.NetworkSettings?.SandboxKey) return j.NetworkSettings.SandboxKey;
    if (j.State?.Pid) return `/proc/${j.State.Pid}/ns/net`;
    throw new Error(`sandbox ${ref} has no network namespace (is it running?): ${r.text.slice(0, 500)}`);
  }

  inNs(nsPath: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(["nsenter", `--net=${nsPath}`, "--", ...argv], { timeoutMs: 15_000, ...opts }, this);
  }

  async inNsOk(nsPath: string, argv: readonly string[], opts: RunOptions = {}): Promise<string> {
    const r = await this.inNs(nsPath, argv, opts);
    if (r.code !== 0 || r.timedOut) throw new Error(describeFailure(r));
    return r.stdout;
  }

  inHost(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.inNs(this.hostNsPath, argv, opts);
  }
  inHostOk(argv: readonly string[], opts?: RunOptions): Promise<string> {
    return this.inNsOk(this.hostNsPath, argv, opts);
  }
  inOutside(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.inNs(this.outsideNsPath, argv, opts);
  }
  inOutsideOk(argv: readonly string[], opts?: RunOptions): Promise<string> {
    return this.inNsOk(this.outsideNsPath, argv, opts);
  }

  /** A background process inside a namespace; its output goes to a log in the lab dir. */
  spawnIn(nsPath: string, argv: readonly string[], opts: { name: string; readyPattern?: RegExp; readyTimeoutMs?: number }): Promise<BgProcess> {
    this.assertAlive();
    return spawnBg(["nsenter", `--net=${nsPath}`, "--", ...argv], { ...opts, logPath: this.logPath(opts.name) }, this);
  }

  // ---- traffic -----------------------------------------------------------------------------

  async startServer(nsPath: string, opts: ServerOptions): Promise<PeerServer> {
    const hitsPath = this.logPath(`hits-${opts.proto}-${opts.port}`);
    const argv = [process.execPath, fixturePath("peer-server"), "--proto", opts.proto, "--port", String(opts.port), "--bind", opts.bind ?? "0.0.0.0", "--hits", hitsPath];
    const proc = await this.spawnIn(nsPath, argv, { name: `${opts.proto}-server-${opts.port}`, readyPattern: /^ready \d+$/m });
    const port = Number(/^ready (\d+)$/m.exec(proc.log())?.[1]);
    return { proc, port, hits: () => readJsonLines<Hit>(hitsPath), stop: () => proc.stop() };
  }

  outsideServer(opts: ServerOptions): Promise<PeerServer> {
    return this.startServer(this.outsideNsPath, opts);
  }

  private async probe(nsPath: string, args: string[], timeoutMs: number): Promise<ProbeResult> {
    const r = await this.inNs(nsPath, [process.execPath, fixturePath("net-probe"), ...args, "--timeout", String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(line) as ProbeResult;
    } catch {
      throw new Error(`net-probe gave no result: ${describeFailure(r)}`);
    }
  }

  tcpConnect(nsPath: string, ip: string, port: number, opts: { timeoutMs?: number; send?: string } = {}): Promise<ProbeResult> {
    const args = ["tcp", ip, String(port)];
    if (opts.send !== undefined) args.push("--send", opts.send);
    return this.probe(nsPath, args, opts.timeoutMs ?? 3000);
  }

  udpSend(nsPath: string, ip: string, port: number, opts: { timeoutMs?: number; send?: string } = {}): Promise<ProbeResult> {
    return this.probe(nsPath, ["udp", ip, String(port), "--send", opts.send ?? "ping"], opts.timeoutMs ?? 3000);
  }

  httpGet(nsPath: string, url: string, opts: { timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<ProbeResult> {
    const args = ["http", url];
    for (const [k, v] of Object.entries(opts.headers ?? {})) args.push("--header", `${k}: ${v}`);
    return this.probe(nsPath, args, opts.timeoutMs ?? 3000);
  }

  dnsQuery(nsPath: string, server: string, name: string, opts: { type?: string; tcp?: boolean; timeoutMs?: number } = {}): Promise<ProbeResult> {
    const args = ["dns", server, name, "--type", opts.type ?? "A"];
    if (opts.tcp) args.push("--tcp");
    return this.probe(nsPath, args, opts.timeoutMs ?? 3000);
  }

  async ping(nsPath: string, ip: string): Promise<boolean> {
    const r = await this.inNs(nsPath, ["busybox", "ping", "-c", "1", "-W", "1", ip], { timeoutMs: 5000 });
    return r.code === 0;
  }

  /** The fake upstream resolver on 192.0.2.2:53 (udp and tcp) in the outside namespace. */
  async startUpstreamDns(records: DnsRecords = DEFAULT_RECORDS): Promise<FakeDns> {
    const logPath = this.logPath("dns-queries");
    const argv = [process.execPath, fixturePath("fake-upstream-dns"), "--bind", OUTSIDE_IP, "--port", "53", "--log", logPath];
    for (const [name, ips] of Object.entries(records)) argv.push("--record", `${name}=${ips.join(",")}`);
    const proc = await this.spawnIn(this.outsideNsPath, argv, { name: "fake-upstream-dns", readyPattern: /^ready /m });
    this.upstreamDns = { proc, records, queries: () => readJsonLines<DnsQueryLog>(logPath), stop: () => proc.stop() };
    return this.upstreamDns;
  }

  // ---- berthd ------------------------------------------------------------------------------

  get berthdPid(): number | undefined {
    return this.berthd?.running() ? this.berthd.pid : undefined;
  }

  /** berthd's log (all its starts); after destroy, what it was at destroy. */
  berthdLog(): string {
    if (this.finalBerthdLog !== undefined) return this.finalBerthdLog;
    try {
      return readFileSync(this.berthdLogPath, "utf8");
    } catch {
      return "";
    }
  }

  /** Starts berthd in the host namespace and waits (30 s at most, see berthdReadyTimeoutMs)
   * until GET /_ping answers; throws with berthd's log if it exits or does not answer. */
  async startBerthd(extra: string[] = []): Promise<void> {
    this.assertAlive();
    if (this.berthd?.running()) throw new Error(`lab ${this.name}: berthd already runs (pid ${this.berthd.pid})`);
    const bin = this.opts.berthdBin ?? join(REPO_ROOT, "bin", "berthd");
    if (!existsSync(bin)) throw new Error(`lab ${this.name}: ${bin} does not exist (use startBerthd: false to build a lab without it)`);
    this.lastExtraArgs = extra;
    const argv = [
      "nsenter", `--net=${this.hostNsPath}`, "--",
      process.execPath, bin,
      "--data-root", this.dataRoot,
      "--exec-root", this.execRoot,
      "--socket", this.socketPath,
      "--resolv-conf", this.resolvConfPath,
      "--log-level", "debug",
      ...(this.opts.berthdArgs ?? []),
      ...extra,
    ];
    writeFileSync(this.berthdLogPath, `--- lab: starting ${argv.join(" ")}\n`, { flag: "a" });
    const proc = await spawnBg(argv, { name: "berthd", logPath: this.berthdLogPath, env: childEnv({ BERTH_STORE_VERIFY: "1" }) }, this);
    this.berthd = proc;
    const readyMs = this.opts.berthdReadyTimeoutMs ?? 30_000;
    const deadline = Date.now() + readyMs;
    let lastError = "";
    for (;;) {
      if (!proc.running()) {
        const ex = await proc.exited;
        throw new Error(`lab ${this.name}: berthd exited (code ${ex.code}, signal ${ex.signal}) before answering /_ping; berthd.log:\n${this.berthdLog()}`);
      }
      try {
        const r = await this.api("GET", "/_ping", undefined, 1000);
        if (r.status === 200) return;
        lastError = `status ${r.status}: ${r.text}`;
      } catch (e) {
        lastError = (e as Error).message;
      }
      if (Date.now() > deadline) {
        await proc.stop("SIGKILL");
        throw new Error(`lab ${this.name}: berthd did not answer /_ping within ${readyMs} ms (last: ${lastError}); berthd.log:\n${this.berthdLog()}`);
      }
      await sleep(50);
    }
  }

  /** SIGTERM, then wait (SIGKILL after `timeoutMs`, default 10 s). undefined if it was not running. */
  async stopBerthd(timeoutMs = 10_000): Promise<Exit | undefined> {
    if (!this.berthd?.running()) return undefined;
    const ex = await this.berthd.stop("SIGTERM", timeoutMs);
    writeFileSync(this.berthdLogPath, `--- lab: berthd stopped (code ${ex.code}, signal ${ex.signal})\n`, { flag: "a" });
    return ex;
  }

  /** SIGKILL by pid, as a crash would; sandboxes and kernel state stay as they are.
   * undefined if it was not running. */
  async killBerthd(): Promise<Exit | undefined> {
    if (!this.berthd?.running()) return undefined;
    process.kill(this.berthd.pid, "SIGKILL");
    const ex = await this.berthd.exited;
    writeFileSync(this.berthdLogPath, `--- lab: berthd killed (code ${ex.code}, signal ${ex.signal})\n`, { flag: "a" });
    return ex;
  }

  /** stopBerthd, then startBerthd with `extra` (default: the extra args of the last start). */
  async restartBerthd(extra?: string[]): Promise<void> {
    await this.stopBerthd();
    await this.startBerthd(extra ?? this.lastExtraArgs);
  }

  // ---- teardown ----------------------------------------------------------------------------

  private assertAlive(): void {
    if (this.destroyed) throw new Error(`lab ${this.name} is destroyed`);
  }

  private teardownSpec(): TeardownSpec {
    return {
      name: this.name,
      dir: this.dir,
      execRoot: this.execRoot,
      dataRoot: this.dataRoot,
      pids: [...this.pids],
      berthdPid: this.berthdPid,
      createdAtMs: this.createdAtMs,
    };
  }

  /** Synchronous teardown without a graceful berthd stop; returns what leaked. Used on exit. */
  teardownNow(): string[] {
    if (this.destroyed) return [];
    this.finalBerthdLog = this.berthdLog();
    this.destroyed = true;
    liveLabs.delete(this);
    return teardownSync(this.teardownSpec());
  }

  /** Stops berthd gracefully, tears everything down, and throws if anything leaked. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const problems: string[] = [];
    if (this.berthd?.running()) {
      try {
        await this.stopBerthd(5000);
      } catch (e) {
        problems.push(`stopping berthd: ${(e as Error).message}`);
      }
    }
    problems.push(...this.teardownNow());
    if (problems.length) throw new Error(`lab ${this.name} teardown left things behind:\n  ${problems.join("\n  ")}`);
  }
}

/** Creates a lab, runs `fn`, and always destroys the lab; a teardown failure is an error too.
 * When `fn` fails, the last lines of berthd's log are added to its error. */
export async function withLab<T>(prefix: string, opts: Omit<LabOptions, "prefix">, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await Lab.create({ ...opts, prefix });
  let result: T;
  try {
    result = await fn(lab);
  } catch (e) {
    let extra = "";
    try {
      await lab.destroy();
    } catch (d) {
      extra += `\n(and then: ${(d as Error).message})`;
    }
    const log = lab.berthdLog().trimEnd().split("\n").slice(-40).join("\n");
    if (log) extra += `\n--- berthd.log of lab ${lab.name}, last lines:\n${log}`;
    if (e instanceof Error) e.message += extra;
    throw e;
  }
  await lab.destroy();
  return result;
}
