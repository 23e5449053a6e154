// The real Docker engine next to berthd in one e2e lab, for the parity suites (600-).
//
//   <lab>-dock   dockerd's "host": eth0 = 198.51.100.1/24, default route via the outside, which
//                gets a second link dock0 = 198.51.100.2/24. So the outside reaches berthd's host
//                at 192.0.2.1 and dockerd's at 198.51.100.1, and the same host port can be
//                published on both.
//
// dockerd runs in <lab>-dock and in a private mount namespace (held by a sleeping process) with a
// fresh tmpfs on /run and the lab's resolv.conf; its data-root, exec-root and socket are under the
// lab dir, its containers' cgroups under <lab>-docker (removed at stop). The machine's docker is
// never used. argv and config come from bench/lib/dockerd.ts, which the bench uses too.
// The image `pty-bb:1` is busybox-static imported from a tarball (no registry).

import { mkdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildRootfs } from "../../bench/lib/rootfs.js";
import { dockerCli, dockerdArgv, dockerdConfigJson, dockerMissing, importArgs, removeCgroupTrees } from "../../bench/lib/dockerd.js";
import type { Lab, RunResult } from "./lab.js";
import { type BgProcess, childEnv, describeFailure, run, sleep } from "./lab-exec.js";

export const DOCKER_HOST_IP = "198.51.100.1";
export const DOCKER_OUTSIDE_IP = "198.51.100.2";
export const DOCKER_IMAGE = "bb:1";

export class DockerEngine {
  readonly ns: string;
  readonly nsPath: string;
  readonly dir: string;
  readonly sock: string;
  private holder?: BgProcess;
  private dockerd?: BgProcess;

  private constructor(readonly lab: Lab) {
    this.ns = `${lab.name}-dock`;
    this.nsPath = `/run/netns/${this.ns}`;
    this.dir = join(lab.dir, "dock");
    this.sock = join(this.dir, "docker.sock");
  }

  /** Builds the namespace, starts dockerd and imports the image; throws saying why it cannot. */
  static async start(lab: Lab): Promise<DockerEngine> {
    const missing = dockerMissing();
    if (missing) throw new Error(`the Docker engine cannot run here: ${missing}`);
    const d = new DockerEngine(lab);
    try {
      await d.build();
    } catch (e) {
      await d.stop().catch(() => undefined);
      (e as Error).message = `the Docker engine did not start: ${(e as Error).message}\n--- dockerd.log:\n${d.log().slice(-3000)}`;
      throw e;
    }
    return d;
  }

  private async build(): Promise<void> {
    const lab = this.lab;
    mkdirSync(join(this.dir, "data"), { recursive: true });
    mkdirSync(join(this.dir, "ex"), { recursive: true });
    await this.ok(["ip", "netns", "add", this.ns]);
    await this.ok(["ip", "-n", this.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "dock0", "netns", lab.outsideNs]);
    await this.ok(["ip", "-n", this.ns, "addr", "add", `${DOCKER_HOST_IP}/24`, "dev", "eth0"]);
    await this.ok(["ip", "-n", lab.outsideNs, "addr", "add", `${DOCKER_OUTSIDE_IP}/24`, "dev", "dock0"]);
    for (const [ns, dev] of [[this.ns, "lo"], [this.ns, "eth0"], [lab.outsideNs, "dock0"]] as const) await this.ok(["ip", "-n", ns, "link", "set", dev, "up"]);
    await this.ok(["ip", "-n", this.ns, "route", "add", "default", "via", DOCKER_OUTSIDE_IP]);

    // The private mount namespace: a tmpfs on /run (dockerd writes /run/docker/plugins whatever its
    // exec-root) and the lab's resolv.conf.
    this.holder = await lab.spawnIn(this.nsPath, ["unshare", "-m", "--propagation", "slave", "sleep", "infinity"], { name: "dock-holder" });
    const pid = this.holder.pid;
    await waitUntil("the mount-namespace holder", 5000, async () => {
      try {
        return readlinkSync(`/proc/${pid}/ns/mnt`) !== readlinkSync("/proc/self/ns/mnt");
      } catch {
        return false;
      }
    });
    await this.ok(["nsenter", `--mount=/proc/${pid}/ns/mnt`, "mount", "-t", "tmpfs", "-o", "mode=755", `${lab.name}-run`, "/run"]);
    await this.ok(["nsenter", `--mount=/proc/${pid}/ns/mnt`, "mount", "--bind", lab.resolvConfPath, "/etc/resolv.conf"]);

    const config = join(this.dir, "daemon.json");
    writeFileSync(config, dockerdConfigJson({ dns: DOCKER_OUTSIDE_IP, cgroupParent: this.cgroupParent }));
    this.dockerd = await lab.spawnIn(this.nsPath, ["nsenter", `--mount=/proc/${pid}/ns/mnt`, ...dockerdArgv(this.dir, this.sock, config)], { name: "dockerd" });
    await waitUntil("dockerd answering `docker version`", 30_000, async () => {
      if (!this.dockerd?.running()) throw new Error(`dockerd exited: ${JSON.stringify(await this.dockerd?.exited)}`);
      return (await this.docker(["version"], 5000)).code === 0;
    });
    const rootfs = await buildRootfs(join(this.dir, "rootfs"));
    const tar = join(this.dir, "rootfs.tar");
    await this.ok(["tar", "-C", rootfs, "-cf", tar, "."]);
    await this.dockerOk(importArgs(tar, DOCKER_IMAGE));
  }

  get cgroupParent(): string {
    return `${this.lab.name}-docker`;
  }

  log(): string {
    return this.dockerd?.log() ?? "";
  }

  /** The real docker CLI (Debian's 20.10) against this dockerd. */
  docker(args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return this.lab.inNs(this.nsPath, dockerCli(this.sock, args), { timeoutMs, env: childEnv({ DOCKER_CONFIG: join(this.dir, "cli") }) });
  }

  async dockerOk(args: string[]): Promise<string> {
    const r = await this.docker(args);
    if (r.code !== 0 || r.timedOut) throw new Error(describeFailure(r));
    return r.stdout;
  }

  private async ok(argv: string[]): Promise<void> {
    const r = await run(argv, { timeoutMs: 30_000 }, this.lab);
    if (r.code !== 0 || r.timedOut) throw new Error(describeFailure(r));
  }

  /**
   * Removes every container (their processes live outside the lab's namespaces), stops dockerd and
   * the holder (the mount namespace goes with them) and removes the cgroups. The lab's teardown
   * deletes <lab>-dock.
   */
  async stop(): Promise<void> {
    if (this.dockerd?.running()) {
      const ids = (await this.docker(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
      if (ids.length) await this.docker(["rm", "-f", ...ids]);
      await this.dockerd.stop("SIGTERM", 15_000);
    }
    if (this.holder?.running()) await this.holder.stop("SIGKILL");
    removeCgroupTrees((n) => n === this.cgroupParent);
  }
}

async function waitUntil(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}
