// Docker 20.10 (Debian docker.io): dockerd runs inside the lab's host namespace and a private mount
// namespace (`nsenter --net=... unshare -m --propagation slave dockerd ...`), with its own data-root,
// exec-root and socket, so no rule, bridge or mount of it reaches the machine. The image is busybox-static
// imported from a tarball (no registry); sandboxes run `sleep`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, LAB_NET, PREFIX, procsInNetns } from '../lib/lab.js';
import { run, startDaemon, waitFor, type Daemon } from '../lib/proc.js';
import type { ProcInfo } from '../lib/procfs.js';
import { dockerCli, dockerdArgv, dockerdConfigJson, dockerMissing, importArgs } from '../lib/dockerd.js';
import type { Ctx, DnsSystem, PortRange, PublishSystem, RunSystem } from './types.js';

const IMAGE = 'bn-bb:1';
const NETWORK = 'bn-net';

export class DockerSystem implements RunSystem, PublishSystem, DnsSystem {
  readonly lab: Lab;
  readonly publicIp = LAB_NET.hostIp;
  private daemon?: Daemon;
  private sock: string;

  constructor(
    readonly name: string,
    tag: string,
    private ctx: Ctx,
  ) {
    this.lab = new Lab(tag);
    this.sock = join(this.lab.dir, 'docker.sock');
  }

  async check(): Promise<string | undefined> {
    return dockerMissing();
  }

  docker(args: string[]): string[] {
    return dockerCli(this.sock, args);
  }

  /** For docker-compose (metric 12, compose). */
  dockerHost(): string {
    return `unix://${this.sock}`;
  }
  readonly image = IMAGE;

  /** Metrics 3, 4, 6: a daemon with one user network. Metric 5: also sandboxes named `arg`, for its DNS. */
  async start(arg: { userlandProxy: boolean } | string[] = { userlandProxy: true }): Promise<void> {
    const opts = Array.isArray(arg) ? { userlandProxy: true } : arg;
    await this.lab.create();
    // A private mount namespace with a tmpfs /run: dockerd makes /run/docker/plugins whatever its exec-root.
    await this.lab.startHolder({ tmpfsRun: true });
    const dir = this.lab.dir;
    for (const d of ['data', 'ex', 'logs']) mkdirSync(join(dir, d), { recursive: true });
    // A fresh namespace has an empty ruleset; flush anyway, as the oracle recipe does before each start.
    await run(this.lab.hostCmd(['nft', 'flush', 'ruleset']));
    const config = join(dir, 'daemon.json');
    writeFileSync(
      config,
      // Its cgroups are <PREFIX>docker: removed by the harness's cleanup (BENCH_PREFIX gives a run its own).
      dockerdConfigJson({ userlandProxy: opts.userlandProxy, dns: LAB_NET.outIp, cgroupParent: `${PREFIX}docker` }),
    );
    this.daemon = startDaemon(
      this.lab.hostCmd(['unshare', '-m', '--propagation', 'slave', ...dockerdArgv(dir, this.sock, config)]),
      join(dir, 'logs', 'dockerd.log'),
    );
    await waitFor('dockerd', async () => (await run(this.docker(['version']), { check: false, timeoutMs: 5000 })).code === 0, 30_000, 100);
    // Import the busybox image from the shared rootfs.
    const tar = join(dir, 'rootfs.tar');
    await run(['tar', '-C', this.ctx.rootfs, '-cf', tar, '.']);
    await run(this.docker(importArgs(tar, IMAGE)));
    await run(this.docker(['network', 'create', '--subnet', '172.30.0.0/16', NETWORK]));
    if (Array.isArray(arg)) {
      for (const n of arg) await run(this.docker(['run', '-d', '--name', n, '--network', NETWORK, IMAGE, 'sleep', '3600']));
      this.dnsClientNetns = await this.netnsPath(arg[0]!);
    }
  }

  /** Docker's embedded DNS answers on 127.0.0.11 inside each sandbox on a user network. */
  readonly serverIp = '127.0.0.11';
  private dnsClientNetns = '';

  dnsClientCmd(argv: string[]): string[] {
    return ['nsenter', `--net=${this.dnsClientNetns}`, ...argv];
  }

  async runDetached(name: string, hostPort: number): Promise<void> {
    await run(this.docker(['run', '-d', '--name', name, '--network', NETWORK, '-p', `${hostPort}:80`, IMAGE, 'sleep', '3600']));
  }

  async cliFloor(): Promise<void> {
    await run(this.docker(['ps', '-q']));
  }

  async runWithPorts(name: string, ranges: PortRange[]): Promise<void> {
    const p: string[] = [];
    for (const r of ranges) {
      const h = r.count === 1 ? `${r.host}` : `${r.host}-${r.host + r.count - 1}`;
      const c = r.count === 1 ? `${r.container}` : `${r.container}-${r.container + r.count - 1}`;
      p.push('-p', `${h}:${c}`);
    }
    await run(this.docker(['run', '-d', '--name', name, '--network', NETWORK, ...p, IMAGE, 'sleep', '3600']), {
      timeoutMs: 900_000,
    });
  }

  async addRuleFillers(templatePort: number, start: number, count: number): Promise<void> {
    const dump = (await run(this.lab.hostCmd(['iptables-save']))).stdout;
    const byTable = new Map<string, string[]>();
    let table = '';
    const re = new RegExp(`--dport ${templatePort}\\b`);
    for (const line of dump.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1);
      else if (line.startsWith('-A ') && re.test(line)) byTable.set(table, [...(byTable.get(table) ?? []), line]);
    }
    if (byTable.size === 0) throw new Error(`no rule of dockerd's for port ${templatePort} to copy`);
    const word = new RegExp(`\\b${templatePort}\\b`, 'g');
    const out: string[] = [];
    for (const [t, lines] of byTable) {
      out.push(`*${t}`);
      for (let p = start; p < start + count; p++) for (const l of lines) out.push(l.replace(word, String(p)));
      out.push('COMMIT');
    }
    await run(this.lab.hostCmd(['iptables-restore', '--noflush']), { input: `${out.join('\n')}\n`, timeoutMs: 300_000 });
  }

  async remove(name: string): Promise<void> {
    await run(this.docker(['rm', '-f', name]), { timeoutMs: 900_000 });
  }

  async netnsPath(name: string): Promise<string> {
    const pid = (await run(this.docker(['inspect', '-f', '{{.State.Pid}}', name]))).stdout.trim();
    return `/proc/${pid}/ns/net`;
  }

  clientCmd(argv: string[]): string[] {
    return this.lab.outCmd(argv);
  }

  hostCmd(argv: string[]): string[] {
    return this.lab.hostCmd(argv);
  }

  async daemonProcs(): Promise<{ daemon: ProcInfo[]; proxies: ProcInfo[]; other: ProcInfo[] }> {
    const pid = this.daemon?.pid;
    // dockerd, containerd, the shims and the proxies live in the lab's host namespace; the containers'
    // own processes (their descendants) are left out by name.
    const inHost = procsInNetns([this.lab.host]).filter((p) => ['dockerd', 'docker-proxy', 'containerd', 'containerd-shim', 'containerd-shim-runc-v2'].includes(p.comm));
    return {
      daemon: inHost.filter((p) => p.pid === pid),
      proxies: inHost.filter((p) => p.comm === 'docker-proxy'),
      other: inHost.filter((p) => p.pid !== pid && p.comm !== 'docker-proxy'),
    };
  }

  async stop(): Promise<void> {
    // The lab is thrown away whole: its processes are killed by PID (dockerd, containerd, shims, containers),
    // its namespaces deleted with every rule and link in them, its mounts gone with the mount namespace.
    // (`docker rm -f` would remove thousands of iptables rules one process at a time first.)
    this.daemon = undefined;
    await this.lab.destroy();
  }
}
