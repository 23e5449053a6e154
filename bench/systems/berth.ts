// berth: berthd runs inside the lab's host namespace
// (`nsenter --net=/run/netns/bn-<tag>-h node bin/berthd --data-root D --exec-root E --socket S --resolv-conf R`),
// driven either through its HTTP API on the unix socket ("api"), through the berth CLI ("cli"), or through
// the docker CLI against its Docker Engine API ("docker": the same /usr/bin/docker and busybox image the
// dockerd peer is measured with).
// Written against docs/internals.md; a berth that is not built yet is reported as not measured.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, LAB_NET, procsInNetns } from '../lib/lab.js';
import { run, startDaemon, waitFor, readText, type Daemon } from '../lib/proc.js';
import { allProcs, cmdline, killProcs, procInfo, processTree, type ProcInfo } from '../lib/procfs.js';
import { unixRequest } from '../lib/unix-http.js';
import type { DnsSystem, NetSetupSystem, PortRange, PublishSystem, RunSystem } from './types.js';
import { dockerCli } from '../lib/dockerd.js';

const NETWORK = 'bn-net';
const SUBNET = '10.91.0.0/16';
const IMAGE = 'bn-bb:1';

export class BerthSystem implements NetSetupSystem, RunSystem, PublishSystem, DnsSystem {
  readonly lab: Lab;
  readonly publicIp = LAB_NET.hostIp;
  serverIp = '';
  private daemon?: Daemon;
  private sock: string;
  private dataRoot: string;
  private execRoot: string;
  private ids = new Map<string, string>();
  private dnsClientNetns = '';

  constructor(
    readonly name: string,
    tag: string,
    readonly mode: 'api' | 'cli' | 'docker',
    private repo: string,
    /** The busybox rootfs imported as the image in docker mode. */
    private rootfs = '',
  ) {
    this.lab = new Lab(tag);
    this.sock = join(this.lab.dir, 'berth.sock');
    this.dataRoot = join(this.lab.dir, 'data');
    this.execRoot = join(this.lab.dir, 'exec');
  }

  /** berthd's API socket (the catalog's too). */
  get socketPath(): string {
    return this.sock;
  }

  private get berthd(): string {
    return join(this.repo, 'bin', 'berthd');
  }

  private get berthCli(): string {
    return join(this.repo, 'bin', 'berth');
  }

  async check(): Promise<string | undefined> {
    for (const f of [this.berthd, this.berthCli]) {
      if (!existsSync(f)) return `${f} does not exist yet (berthd and the berth CLI are not written yet)`;
    }
    return undefined;
  }

  // ---- API and CLI plumbing ----

  async api(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await unixRequest(this.sock, method, path, body);
    if (res.status >= 300) {
      let msg = res.body;
      try {
        msg = (JSON.parse(res.body) as { message?: string }).message ?? res.body;
      } catch {
        /* not JSON */
      }
      throw new Error(`berth API ${method} ${path}: ${res.status} ${msg}`);
    }
    if (!res.body) return undefined;
    try {
      return JSON.parse(res.body) as unknown;
    } catch {
      return res.body;
    }
  }

  /** argv for the CLI; it talks to the socket, so it runs in the harness's own namespace. */
  cli(args: string[]): string[] {
    if (this.mode === 'docker') return dockerCli(this.sock, args);
    return [this.berthCli, '--host', `unix://${this.sock}`, ...args];
  }

  /** For docker-compose (metric 12, compose): berthd's own socket serves the Docker API. */
  dockerHost(): string {
    return `unix://${this.sock}`;
  }
  readonly image = IMAGE;

  private cliEnv(): Record<string, string> {
    return { BERTH_HOST: `unix://${this.sock}` };
  }

  private logTail(): string {
    const log = readText(join(this.lab.dir, 'berthd.log')) ?? '';
    return log.trim().split('\n').slice(-5).join(' / ');
  }

  async startDaemon(): Promise<void> {
    await this.lab.create();
    mkdirSync(this.dataRoot, { recursive: true });
    mkdirSync(this.execRoot, { recursive: true });
    await this.spawnDaemon();
  }

  /** berthd in the lab, until GET /_ping answers (polled every pollMs); ms from spawn to that answer. */
  private async spawnDaemon(pollMs = 100): Promise<number> {
    const t0 = performance.now();
    this.daemon = startDaemon(
      this.lab.nsCmd(this.lab.host, [
        process.execPath,
        // Profiling berthd in a bench run, e.g. BENCH_BERTHD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
        ...(process.env['BENCH_BERTHD_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== ''),
        this.berthd,
        '--data-root', this.dataRoot,
        '--exec-root', this.execRoot,
        '--socket', this.sock,
        '--resolv-conf', this.lab.resolvConf,
        '--log-level', 'debug', // per-operation phase timings ("start X: reserve 0.4 ... launch 5.1")
      ]),
      join(this.lab.dir, 'berthd.log'),
    );
    try {
      await waitFor('berthd /_ping', async () => {
        if (!procInfo(this.daemon!.pid)) throw new Error('berthd exited');
        return (await unixRequest(this.sock, 'GET', '/_ping', undefined, 2000).catch(() => ({ status: 0 }))).status === 200;
      }, 20_000, pollMs);
    } catch (e) {
      throw new Error(`berthd did not come up (${e instanceof Error ? e.message : String(e)}): ${this.logTail()}`);
    }
    return performance.now() - t0;
  }

  /**
   * Stops berthd (SIGTERM: its sandboxes keep running) and starts it again: ms from the new
   * berthd's spawn until its API answers, and how many sandboxes it then lists as running.
   */
  async restartDaemon(): Promise<{ ms: number; running: number }> {
    const d = this.daemon;
    if (!d) throw new Error('berthd is not running');
    process.kill(d.pid, 'SIGTERM');
    await Promise.race([d.exited, new Promise((_, rej) => setTimeout(() => rej(new Error('berthd did not stop in 30 s')), 30_000))]);
    const ms = await this.spawnDaemon(5);
    const list = (await this.api('GET', '/containers/json')) as { State?: string }[];
    return { ms, running: list.filter((c) => c.State === 'running').length };
  }

  private async createNetwork(): Promise<void> {
    if (this.mode === 'api') {
      await this.api('POST', '/networks/create', { Name: NETWORK, Driver: 'bridge', IPAM: { Config: [{ Subnet: SUBNET }] } });
    } else {
      await run(this.cli(['network', 'create', '--subnet', SUBNET, NETWORK]), { env: this.cliEnv() });
    }
    if (this.mode === 'docker') {
      const tar = join(this.lab.dir, 'rootfs.tar');
      await run(['tar', '-C', this.rootfs, '-cf', tar, '.']);
      await run(this.cli(['import', '-c', 'CMD ["/bin/sh"]', tar, IMAGE]));
    }
  }

  async start(arg?: { userlandProxy: boolean } | string[]): Promise<void> {
    await this.startDaemon();
    await this.createNetwork();
    if (Array.isArray(arg)) {
      // DNS metric: sandboxes named arg on the network; the first one is the client.
      for (const n of arg) await this.runSandbox(n, []);
      const first = arg[0]!;
      this.dnsClientNetns = await this.netnsPath(first);
      const id = await this.idOf(first);
      const resolv = readText(join(this.dataRoot, 'sandboxes', id, 'resolv.conf')) ?? '';
      const ns = resolv.match(/^nameserver\s+(\S+)/m)?.[1];
      if (!ns) throw new Error(`no nameserver in ${first}'s resolv.conf`);
      this.serverIp = ns;
    }
  }

  private async runSandbox(name: string, ports: PortRange[]): Promise<void> {
    if (this.mode === 'api') {
      const exposed: Record<string, object> = {};
      const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
      for (const r of ports) {
        for (let k = 0; k < r.count; k++) {
          exposed[`${r.container + k}/tcp`] = {};
          bindings[`${r.container + k}/tcp`] = [{ HostIp: '', HostPort: String(r.host + k) }];
        }
      }
      await this.createAndStart(name, exposed, { PortBindings: bindings });
    } else {
      const p: string[] = [];
      for (const r of ports) {
        p.push('-p', r.count === 1 ? `${r.host}:${r.container}` : `${r.host}-${r.host + r.count - 1}:${r.container}-${r.container + r.count - 1}`);
      }
      const what = this.mode === 'docker' ? [IMAGE, 'sleep', '3600'] : ['--', 'sleep', '3600'];
      await run(this.cli(['run', '-d', '--network', NETWORK, ...p, '--name', name, ...what]), {
        env: this.cliEnv(),
        timeoutMs: 900_000,
      });
    }
  }

  /** POST /containers/create (a `sleep` on the bench network) and /start; the sandbox's id. */
  private async createAndStart(name: string, exposed: Record<string, object>, hostConfig: Record<string, unknown>): Promise<string> {
    const created = (await this.api('POST', `/containers/create?name=${encodeURIComponent(name)}`, {
      Cmd: ['sleep', '3600'],
      ExposedPorts: exposed,
      HostConfig: { NetworkMode: NETWORK, ...hostConfig },
      NetworkingConfig: { EndpointsConfig: { [NETWORK]: {} } },
    })) as { Id: string };
    this.ids.set(name, created.Id);
    await this.api('POST', `/containers/${created.Id}/start`);
    return created.Id;
  }

  /** `run -d -P` with `count` exposed tcp ports from `first`, through the API; ms until start returned. */
  async publishAll(name: string, first: number, count: number): Promise<number> {
    const exposed: Record<string, object> = {};
    for (let k = 0; k < count; k++) exposed[`${first + k}/tcp`] = {};
    const t0 = performance.now();
    const id = await this.createAndStart(name, exposed, { PublishAllPorts: true });
    const ms = performance.now() - t0;
    const j = (await this.api('GET', `/containers/${id}/json`)) as { NetworkSettings?: { Ports?: Record<string, unknown[] | null> } };
    const bound = Object.values(j.NetworkSettings?.Ports ?? {}).filter((v) => Array.isArray(v) && v.length > 0).length;
    if (bound !== count) throw new Error(`-P published ${bound} of ${count} ports`);
    return ms;
  }

  async remove(name: string): Promise<void> {
    if (this.mode === 'api') {
      await this.api('DELETE', `/containers/${encodeURIComponent(this.ids.get(name) ?? name)}?force=1`);
    } else {
      await run(this.cli(['rm', '-f', name]), { env: this.cliEnv(), timeoutMs: 900_000 });
    }
    this.ids.delete(name);
  }

  private async idOf(name: string): Promise<string> {
    const known = this.ids.get(name);
    if (known) return known;
    const j = (await this.api('GET', `/containers/${encodeURIComponent(name)}/json`)) as { Id: string };
    this.ids.set(name, j.Id);
    return j.Id;
  }

  async describe(): Promise<string[]> {
    const notes: string[] = [];
    const rules = await unixRequest(this.sock, 'GET', '/rules');
    const text = rules.body.trim();
    if (rules.status !== 200 || !/\btable\b/.test(text)) {
      const said = text.split('\n')[0]?.slice(0, 120) ?? '';
      notes.push(
        `berth: berthd installed no nftables table in this run (GET /rules answered ${rules.status}: "${said}"), ` +
          'so its figures leave out firewall rules and port publishing.',
      );
    }
    return notes;
  }

  // ---- daemon-side timings, from berthd's debug log ----

  private logOffset = 0;
  private phases = new Map<string, Record<string, number>>();

  /** Parse new "start NAME: phase ms phase ms ..." / "release NAME: ..." lines of berthd's log. */
  private readPhases(): void {
    const text = readText(join(this.lab.dir, 'berthd.log')) ?? '';
    const end = text.lastIndexOf('\n') + 1;
    const chunk = text.slice(this.logOffset, end);
    this.logOffset = end;
    for (const [k, rec] of parsePhaseLines(chunk)) this.phases.set(k, rec);
  }

  daemonSide(i: number, kind: 'setup' | 'teardown'): { total: number; net: number } | undefined {
    if (this.mode !== 'api') return undefined; // the same daemon work as the CLI's; reported once
    this.readPhases();
    const rec = this.phases.get(`${kind === 'setup' ? 'start' : 'release'} bn-s${i}`);
    if (!rec) return undefined;
    const net = rec['links+firewall+dns'];
    if (net === undefined) return undefined;
    return { total: Object.values(rec).reduce((a, b) => a + b, 0), net };
  }

  // ---- metric operations ----

  async setup(i: number, hostPort: number): Promise<void> {
    await this.runSandbox(`bn-s${i}`, hostPort ? [{ host: hostPort, container: 80, count: 1 }] : []);
  }

  async teardown(i: number): Promise<void> {
    await this.remove(`bn-s${i}`);
  }

  async runDetached(name: string, hostPort: number): Promise<void> {
    await this.runSandbox(name, [{ host: hostPort, container: 80, count: 1 }]);
  }

  async cliFloor(): Promise<void> {
    if (this.mode === 'api') await this.api('GET', '/containers/json');
    else await run(this.cli(this.mode === 'docker' ? ['ps', '-q'] : ['ps']), { env: this.cliEnv() });
  }

  async runWithPorts(name: string, ranges: PortRange[]): Promise<void> {
    await this.runSandbox(name, ranges);
  }

  async netnsPath(name: string): Promise<string> {
    const id = await this.idOf(name);
    const j = (await this.api('GET', `/containers/${id}/json`)) as { NetworkSettings?: { SandboxKey?: string } };
    const key = j.NetworkSettings?.SandboxKey;
    if (key && existsSync(key)) return key;
    const t = (await this.api('GET', `/containers/${id}/exec-target`)) as { Pid: number };
    return `/proc/${t.Pid}/ns/net`;
  }

  clientCmd(argv: string[]): string[] {
    return this.lab.outCmd(argv);
  }

  hostCmd(argv: string[]): string[] {
    return this.lab.nsCmd(this.lab.host, argv);
  }

  dnsClientCmd(argv: string[]): string[] {
    return ['nsenter', `--net=${this.dnsClientNetns}`, ...argv];
  }

  /** PIDs of the sandboxes' own commands (DATA_ROOT/sandboxes/<id>/pid). */
  private sandboxPids(): Set<number> {
    const out = new Set<number>();
    const dir = join(this.dataRoot, 'sandboxes');
    if (!existsSync(dir)) return out;
    for (const id of readdirSync(dir)) {
      const pid = Number(readText(join(dir, id, 'pid'))?.trim());
      if (pid > 0) out.add(pid);
    }
    return out;
  }

  async daemonProcs(): Promise<{ daemon: ProcInfo[]; proxies: ProcInfo[]; other: ProcInfo[] }> {
    const pid = this.daemon?.pid ?? -1;
    const procs = allProcs();
    const sandboxes = new Set<number>();
    for (const s of this.sandboxPids()) for (const p of processTree(s, procs)) sandboxes.add(p.pid);
    const seen = new Map<number, ProcInfo>();
    for (const p of [...processTree(pid, procs), ...procsInNetns([this.lab.host])]) {
      if (!sandboxes.has(p.pid)) seen.set(p.pid, p);
    }
    const all = [...seen.values()];
    // berthd's DNS UDP workers (src/dns/udp-worker.ts) are part of the daemon, not of any sandbox.
    const isDaemon = (p: ProcInfo) => p.pid === pid || (p.ppid === pid && cmdline(p.pid).some((a) => a.endsWith('udp-worker.js')));
    return {
      daemon: all.filter(isDaemon),
      proxies: [], // berth publishes ports in the kernel; any helper process it keeps is counted in "other"
      other: all.filter((p) => !isDaemon(p)),
    };
  }

  async stop(): Promise<void> {
    if (this.daemon && procInfo(this.daemon.pid)) {
      try {
        const list = (await this.api('GET', '/containers/json?all=1')) as { Id: string }[];
        for (const c of list) await this.api('DELETE', `/containers/${c.Id}?force=1`).catch(() => {});
      } catch {
        /* the daemon may be broken: the lab teardown below kills everything anyway */
      }
      const d = procInfo(this.daemon.pid);
      if (d) await killProcs([d], 5000);
    }
    this.daemon = undefined;
    this.ids.clear();
    // BENCH_BERTHD_LOG_DIR=DIR keeps each berthd's log (its phase lines) as DIR/berthd-N.log.
    const keep = process.env['BENCH_BERTHD_LOG_DIR'];
    if (keep) {
      mkdirSync(keep, { recursive: true });
      const log = join(this.lab.dir, 'berthd.log');
      if (existsSync(log)) copyFileSync(log, join(keep, `berthd-${readdirSync(keep).length + 1}.log`));
    }
    const netnsDir = join(this.execRoot, 'netns');
    const files = existsSync(netnsDir) ? readdirSync(netnsDir).map((f) => join(netnsDir, f)) : [];
    await this.lab.destroy(files);
  }
}

/**
 * berthd's debug lines "<time> debug start NAME: reserve 0.4 persist 1.2 ..." and "... release NAME: ...",
 * as "start NAME" / "release NAME" -> phase -> ms (a phase named twice is added up).
 */
export function parsePhaseLines(text: string): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const line of text.split('\n')) {
    const m = line.match(/\sdebug\s+(start|release) (\S+): (.+)$/);
    if (!m) continue;
    const tokens = m[3]!.trim().split(/\s+/);
    const rec: Record<string, number> = {};
    for (let i = 0; i + 1 < tokens.length; i += 2) {
      const v = Number(tokens[i + 1]);
      if (Number.isFinite(v)) rec[tokens[i]!] = (rec[tokens[i]!] ?? 0) + v;
    }
    out.set(`${m[1]} ${m[2]}`, rec);
  }
  return out;
}
