// podman 4.3 (Debian) with --rootfs, rootful, inside the lab: every podman command runs in the lab's host
// namespace and in a private mount namespace where /run is a fresh tmpfs (podman's netavark run dir
// /run/containers/networks, its netns mounts and runc state stay there) and /etc/resolv.conf is the lab's.
// Workarounds this machine needs (see bench/README.md): explicit nofile/nproc ulimits, runc instead of
// crun (cgroup v1 hybrid), cgroupfs manager, file events, vfs storage.
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lib/lab.js';
import { run } from '../lib/proc.js';
import type { Ctx, RunSystem } from './types.js';

export const PODMAN = '/usr/bin/podman';
const NETWORK = 'bn-pnet';

export class PodmanSystem implements RunSystem {
  readonly lab: Lab;
  private rootfs: string;

  constructor(
    readonly name: string,
    tag: string,
    private ctx: Ctx,
  ) {
    this.lab = new Lab(tag);
    this.rootfs = join(this.lab.dir, 'rootfs');
  }

  async check(): Promise<string | undefined> {
    for (const f of [PODMAN, '/usr/sbin/runc', '/usr/bin/conmon', '/usr/lib/podman/netavark']) {
      if (!existsSync(f)) return `${f} not found (packages podman, runc, conmon, netavark)`;
    }
    return undefined;
  }

  podman(args: string[]): string[] {
    const d = this.lab.dir;
    return this.lab.hostCmd([
      PODMAN,
      '--root', join(d, 'root'),
      '--runroot', join(d, 'runroot'),
      '--tmpdir', join(d, 'tmp'),
      '--storage-driver', 'vfs',
      '--network-config-dir', join(d, 'networks'),
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
      '--runtime', 'runc',
      ...args,
    ]);
  }

  private env(): Record<string, string> {
    return { CONTAINERS_CONF: join(this.lab.dir, 'containers.conf') };
  }

  async start(): Promise<void> {
    await this.lab.create();
    await this.lab.startHolder({ tmpfsRun: true });
    const d = this.lab.dir;
    for (const x of ['root', 'runroot', 'tmp', 'networks']) mkdirSync(join(d, x), { recursive: true });
    writeFileSync(
      join(d, 'containers.conf'),
      '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n' +
        '[network]\nnetwork_backend = "netavark"\n',
    );
    cpSync(this.ctx.rootfs, this.rootfs, { recursive: true, verbatimSymlinks: true });
    await run(this.podman(['network', 'create', '--subnet', '10.90.0.0/16', NETWORK]), { env: this.env() });
  }

  async runDetached(name: string, hostPort: number): Promise<void> {
    await run(
      this.podman([
        'run', '-d', '--name', name, '--network', NETWORK, '-p', `${hostPort}:80`,
        '--cgroup-parent', 'bn-podman',
        '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768',
        '--rootfs', this.rootfs, 'sleep', '3600',
      ]),
      { env: this.env() },
    );
  }

  async cliFloor(): Promise<void> {
    await run(this.podman(['ps', '-q']), { env: this.env() });
  }

  async remove(name: string): Promise<void> {
    await run(this.podman(['rm', '-f', '-t', '0', name]), { env: this.env() });
  }

  async stop(): Promise<void> {
    if (this.lab.holderPid !== undefined) {
      await run(this.podman(['rm', '-a', '-f', '-t', '0']), { env: this.env(), check: false, timeoutMs: 60_000 });
    }
    await this.lab.destroy();
  }
}
