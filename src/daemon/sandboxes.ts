// Sandbox lifecycle: create, start, stop, remove, and what happens when a process ends.
// start is a transaction: reserve in state, persist, build the kernel side, launch; any
// failure undoes what was done and leaves the sandbox "created" with the error recorded.
import { validateName } from '../model/names.js';
import type { Writable } from 'node:stream';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, Conflict } from '../model/errors.js';
import { initialHealth } from '../model/healthcheck.js';
import { newSandboxId } from '../model/ids.js';
import type { DomainName, SandboxRecord, SandboxState } from '../model/types.js';
import { sandboxFiles, sandboxHostname } from '../plan/sandbox-files.js';
import { DEFAULT_PATH, launch, type Launched, type OciLaunch } from '../runtime/launch.js';
import { commandInLayers, fileInLayers } from '../runtime/look-path.js';
import { recordedExitCode } from '../runtime/exit-record.js';
import { resolveUser, type ResolvedUser } from '../model/user-spec.js';
import { sandboxSizeFile, writeSize } from '../runtime/tty.js';
import { ociConfig } from '../plan/oci-spec.js';
import { layerPath, type ImageStore } from '../images/store.js';
import { runOk } from '../kernel/exec.js';
import { helperPath } from '../kernel/binaries.js';
import { isAlive, nsOf, startTimeOf, startTimeSync } from '../runtime/proc.js';
import { pidsInEitherNs } from '../kernel/proc-scan.js';
import { signalGroup, signalProcess, type ProcessIdentity } from '../runtime/signal.js';
import type { Ctx } from './context.js';
import { randomName } from './names-gen.js';
import { PhaseTimer } from './phase-timer.js';
import { every, type Ticker } from './ticker.js';
import { buildConfig } from './sandbox-spec.js';
import type { CreateSandboxInput } from './schema/container-schemas.js';
import { netnsOf, ownsNetns, reserveEndpointClaimed, setupNetwork, teardownNetwork } from './sandbox-net.js';
import { onPublishingEndpoint } from './publish-error.js';
import { publishNetwork } from '../plan/firewall-view.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

function idleState(): SandboxState {
  return { status: 'created', pid: 0, pidStartTime: '', shimPid: 0, mntNs: '', startedAt: ZERO_TIME, finishedAt: ZERO_TIME, exitCode: 0, error: '' };
}

/** Docker's wait conditions: the current run is over, the next one ends, the record is gone. */
export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

interface Waiter {
  condition: WaitCondition;
  resolve: (exitCode: number) => void;
}

/** The OCI runtime berth runs image sandboxes with (Debian's runc; crun refuses hybrid cgroups). */
export const OCI_RUNTIME = 'runc';

/** A start refused before anything ran, with the exit code Docker records for it. */
class StartRefused extends BerthError {
  constructor(
    status: number,
    message: string,
    readonly exitCode: number,
  ) {
    super(status, message);
  }
}

/** Adopted sandboxes the exit poller looks at per tick (every 250 ms). */
const ADOPTED_PER_TICK = 64;

/** isAlive without the promise (runtime/proc.ts): one read of /proc/PID/stat. */
function isAliveSync(pid: number, startTime: string): boolean {
  return startTimeSync(pid) === startTime;
}

export class Sandboxes {
  /** The local image store (set by berthd); sandboxes made from images need it at create. */
  images: ImageStore | undefined;
  /** docker attach with stdin, waiting for the container (docker run -i attaches before start). */
  private readonly stdinWaiters = new Map<string, Array<(w: Writable) => void>>();
  /** Stopped, killed or removed by the user: the restart policy leaves them alone, as Docker. */
  private readonly manuallyStopped = new Set<string>();
  /** Hooks for the Docker API's events (create, start, die, destroy). */
  onEvent: (action: string, sb: SandboxRecord, extra?: Record<string, string>) => void = () => undefined;
  /** Sandboxes whose shim this berthd started (not adopted after a restart). */
  private readonly children = new Map<string, Launched>();
  /** Settles when a just-started sandbox's command PID is known. */
  private readonly readiness = new Map<string, Promise<unknown>>();
  private readonly waiters = new Map<string, Waiter[]>();
  /** Sandboxes being restarted: their stop does not remove them (--rm). */
  private readonly restarting = new Set<string>();
  /** Sandboxes being stopped by rm -f: their record goes right after their exit. */
  private readonly removing = new Set<string>();
  private poller: Ticker | undefined;

  constructor(private readonly ctx: Ctx) {}

  async create(name: DomainName | undefined, req: CreateSandboxInput): Promise<{ sb: SandboxRecord; warnings: string[] }> {
    const image = req.Image ? await this.imageFor(req.Image) : undefined;
    const created = await this.ctx.lock.run(async () => {
      const ctx = this.ctx;
      const finalName = name || validateName('container', randomName((n) => Object.values(ctx.state.sandboxes).some((s) => s.name === n)));
      const { config, warnings } = buildConfig(ctx, finalName, req, image);
      const id = newSandboxId();
      const sb: SandboxRecord = { id, name: finalName, created: new Date().toISOString(), config, state: idleState(), endpoints: {}, ports: [], generation: 0 };
      mkdirSync(ctx.sandboxDir(id), { recursive: true }); // synchronous: see store/durable-file.ts
      ctx.state.sandboxes[id] = sb;
      await ctx.persist(sb);
      return { sb, warnings };
    });
    this.onEvent('create', created.sb);
    return created;
  }

  private async imageFor(ref: string) {
    if (!this.images) throw new BerthError(501, 'this berthd has no image store');
    return this.images.get(ref).catch((e: Error) => {
      if (e instanceof BerthError && e.status === 404) {
        let shown = ref;
        if (!/[:@]/.test(ref.split('/').pop() ?? '')) shown = `${ref}:latest`;
        throw new BerthError(404, `No such image: ${shown}`);
      }
      throw e;
    });
  }

  async start(ref: string): Promise<void> {
    this.manuallyStopped.delete(this.ctx.sandbox(ref).id);
    await this.startByPolicy(ref, false);
  }

  /** A start by the user (the restart count begins again) or by the restart policy. */
  private async startByPolicy(ref: string, byPolicy: boolean): Promise<void> {
    // A --rm sandbox whose start fails is removed by startLocked, as moby does.
    await this.ctx.lock.run(async () => {
      const sb = this.ctx.sandbox(ref);
      const count = byPolicy ? (sb.state.restartCount ?? 0) + 1 : 0;
      await this.startLocked(ref);
      if (sb.state.status === 'running' && (sb.state.restartCount ?? 0) !== count) {
        sb.state.restartCount = count;
        await this.ctx.persist(sb);
      }
    });
  }

  private async startLocked(ref: string): Promise<void> {
    const ctx = this.ctx;
    const sb = ctx.sandbox(ref);
    if (sb.state.status === 'running') return;
    const mode = sb.config.networkMode;
    if (mode.startsWith('container:')) {
      const target = ctx.sandbox(mode.slice('container:'.length));
      if (target.state.status !== 'running') throw new Conflict(`cannot join network of a non running container: ${target.name}`);
    }
    for (const l of sb.config.links) {
      const t = ctx.state.sandboxes[l.targetId];
      const remote = !t && ctx.remoteNames().some((r) => r.sandboxId === l.targetId); // another host's, on an overlay
      if (!remote && (!t || t.state.status !== 'running')) throw new Conflict(`Cannot link to a non running container: /${l.targetName} AS /${sb.name}/${l.alias}`);
    }
    const previous = sb.state.status;
    const timer = new PhaseTimer();
    // 1. Reserve: addresses and ports in state, persisted before the kernel is touched, so a
    //    crash from here on is repaired at the next start (pid 0 means "never launched").
    sb.generation += 1;
    const generation = sb.generation;
    sb.endpoints = {};
    sb.ports = [];
    try {
      for (const n of sb.config.networks) {
        const net = ctx.state.networks[n.networkId];
        if (!net) throw new BerthError(404, `network ${n.networkId} not found: it was removed; connect the sandbox to another network`);
        const ep = await reserveEndpointClaimed(ctx, sb, net, n.ip, n.aliases);
        ep.links = net.builtin ? [] : sb.config.links.map((l) => `${l.targetName}:${l.alias}`);
      }
      const ports = ctx.ports;
      if (ports) {
        const via = publishNetwork(ctx.state, sb);
        sb.ports = await onPublishingEndpoint(sb, via && sb.endpoints[via.id], () => ports.allocate(ctx.state, sb));
      }
    } catch (err) {
      sb.endpoints = {};
      sb.ports = [];
      throw err;
    }
    sb.state = { ...idleState(), status: 'running', startedAt: new Date().toISOString(), ...(sb.config.healthcheck ? { health: initialHealth() } : {}) };
    timer.mark('reserve');
    await ctx.persist(sb);
    timer.mark('persist');
    let launched: Awaited<ReturnType<typeof launch>> | undefined;
    try {
      // 2. Apply: files, namespace and interfaces, firewall and DNS, then the process.
      const dir = ctx.sandboxDir(sb.id);
      mkdirSync(dir, { recursive: true });
      await this.writeFiles(sb);
      timer.mark('files');
      // The interfaces and the firewall/DNS elements do not depend on each other: build both at
      // once; both are in place before the process starts.
      const [links, rules] = await Promise.allSettled([setupNetwork(ctx, sb), ctx.follow()]);
      if (links.status === 'rejected') throw links.reason;
      if (rules.status === 'rejected') throw rules.reason;
      timer.mark('links+firewall+dns');
      const oci = sb.config.image ? await this.prepareOci(sb) : undefined;
      // The TTY's first size, as the client sent it at create; a resize later replaces it.
      const size = sb.config.docker?.consoleSize;
      if (size) writeSize(sandboxSizeFile(dir), size.rows, size.cols);
      timer.mark('bundle');
      launched = await launch({
        oci,
        stateDir: dir,
        logPath: join(dir, 'log'),
        netnsPath: netnsOf(ctx, sb),
        rootfs: sb.config.rootfs,
        hostname: mode === 'host' ? '' : this.hostnameOf(sb),
        cmd: sb.config.cmd,
        env: this.envOf(sb),
        stdinPipe: Boolean(sb.config.docker?.openStdin),
        tty: Boolean(sb.config.docker?.tty),
      });
      // 3. Record. The command's PID follows as soon as the shim reports it.
      sb.state = { ...sb.state, shimPid: launched.shimPid, shimStartTime: await startTimeOf(launched.shimPid) };
      timer.mark('launch');
      this.children.set(sb.id, launched);
      const stdin = launched.stdin;
      if (stdin) {
        stdin.on('error', () => undefined);
        for (const w of this.stdinWaiters.get(sb.id) ?? []) w(stdin);
        this.stdinWaiters.delete(sb.id);
      }
      this.readiness.set(sb.id, launched.ready);
      void launched.exited.then(() => this.onExit(sb.id, generation)).catch((e: Error) => ctx.log('error', `recording the exit of ${sb.name}: ${e.stack ?? e.message}`));
      void launched.ready.then(
        (r) =>
          ctx.lock.run(async () => {
            const cur = ctx.state.sandboxes[sb.id];
            if (!cur || cur.generation !== generation || cur.state.status !== 'running') return;
            cur.state = { ...cur.state, pid: r.pid, pidStartTime: r.pidStartTime, mntNs: r.mntNs };
            await ctx.persist(cur);
            ctx.log('info', `sandbox ${sb.name} running (pid ${r.pid})`);
          }),
        // Not worth a warning when it was stopped (or removed) before its command's PID came.
        (e: Error) => ctx.log(ctx.state.sandboxes[sb.id]?.generation === generation && sb.state.status === 'running' ? 'warn' : 'debug', `sandbox ${sb.name}: ${e.message}`),
      );
      // Not written now: the command's PID follows within milliseconds and is written with it.
      // A crash before then is repaired from the intent already on disk (status running): the
      // next start finds the shim by its argv (reconcile: findLaunched).
      ctx.touch(sb);
      ctx.log('debug', `start ${sb.name}: ${timer}`);
      ctx.log('info', `sandbox ${sb.name} started (${Object.values(sb.endpoints).map((e) => e.ip).join(' ') || sb.config.networkMode})`);
      this.onEvent('start', sb);
    } catch (err) {
      ctx.log('warn', `start of ${sb.name} failed, undoing: ${(err as Error).message}`);
      if (launched) await this.killAll(sb, 'SIGKILL');
      await teardownNetwork(ctx, sb).catch(() => undefined);
      sb.endpoints = {};
      sb.ports = [];
      sb.state = { ...idleState(), status: previous === 'exited' ? 'exited' : 'created', error: (err as Error).message, exitCode: err instanceof StartRefused ? err.exitCode : 0 };
      await ctx.follow().catch((e: Error) => ctx.log('error', `firewall/DNS cleanup after failed start: ${e.message}`));
      await ctx.persist(sb);
      // As Docker does: a --rm sandbox that cannot start is removed.
      if (sb.config.autoRemove) await this.removeLocked(sb);
      throw err;
    }
  }

  /**
   * The OCI bundle of a sandbox made from an image: config.json in its directory, the root
   * filesystem an overlay of the image's layers with a copy-on-write layer of its own (kept
   * across restarts, removed with the sandbox). A missing command is refused here, as Docker does.
   */
  private async prepareOci(sb: SandboxRecord): Promise<OciLaunch> {
    const ctx = this.ctx;
    const img = sb.config.image!;
    const dir = ctx.sandboxDir(sb.id);
    const imagesRoot = join(ctx.cfg.dataRoot, 'images');
    const layers = [...img.layers].reverse().map((d) => layerPath(imagesRoot, d));
    for (const l of layers) {
      if (!(await stat(l).then((st) => st.isDirectory(), () => false))) throw new BerthError(404, `the layers of image ${img.name} are gone (${l}): load the image again`);
    }
    const env = this.envList(sb);
    const cwd = sb.config.docker?.workingDir || '/';
    if (!(await commandInLayers(layers, sb.config.cmd[0]!, env, cwd))) {
      throw new StartRefused(400, `failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "${sb.config.cmd[0]}": executable file not found in $PATH: unknown`, 127);
    }
    const binds = sb.config.docker?.binds ?? [];
    for (const b of binds) {
      if (b.source.startsWith(join(ctx.cfg.dataRoot, 'volumes') + '/')) await mkdir(b.source, { recursive: true });
      else if (!(await stat(b.source).then(() => true, () => false))) throw new BerthError(400, `invalid mount config for type "bind": bind source path does not exist: ${b.source}`);
    }
    const user = await this.userOf(sb, layers);
    const mode = sb.config.networkMode;
    const config = ociConfig({
      user,
      rootfs: join(dir, 'rootfs'),
      args: sb.config.cmd,
      env,
      cwd,
      hostname: mode === 'host' ? (ctx.host.hostHostname ?? '') : this.hostnameOf(sb),
      terminal: Boolean(sb.config.docker?.tty),
      netnsPath: netnsOf(ctx, sb),
      filesDir: dir,
      binds,
    });
    await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 1));
    const runtimeRoot = join(ctx.cfg.execRoot, OCI_RUNTIME);
    // A container of this ID left by a runtime that was killed would block the new one.
    await runOk([helperPath(OCI_RUNTIME), '--root', runtimeRoot, 'delete', '--force', sb.id]).catch(() => undefined);
    return {
      runtime: helperPath(OCI_RUNTIME),
      runtimeRoot,
      bundle: dir,
      id: sb.id,
      merged: join(dir, 'rootfs'),
      lower: layers.join(':'),
      upper: join(dir, 'upper'),
      work: join(dir, 'work'),
    };
  }

  /** The uid and gids of the sandbox's user (docker run --user, the image's User), from its layers' passwd and group. */
  async userOf(sb: SandboxRecord, layers: readonly string[], spec = sb.config.docker?.user ?? ''): Promise<ResolvedUser> {
    if (!spec) return { uid: 0, gid: 0, additionalGids: [] };
    const dirs = [join(this.ctx.sandboxDir(sb.id), 'upper'), ...layers];
    try {
      return resolveUser(spec, await fileInLayers(dirs, 'etc/passwd'), await fileInLayers(dirs, 'etc/group'));
    } catch (e) {
      throw new StartRefused(400, (e as Error).message, 126);
    }
  }

  /** A sandbox sharing another's network namespace shares its hostname too, as in Docker. */
  private hostnameOf(sb: SandboxRecord): string {
    const m = sb.config.networkMode;
    const target = m.startsWith('container:') ? this.ctx.state.sandboxes[m.slice('container:'.length)] : undefined;
    return sandboxHostname(target ?? sb);
  }

  private envOf(sb: SandboxRecord): Record<string, string> {
    const env: Record<string, string> = { PATH: DEFAULT_PATH, HOSTNAME: this.hostnameOf(sb), HOME: '/root' };
    for (const e of [...this.linkEnv(sb), ...sb.config.env]) {
      const i = e.indexOf('=');
      if (i < 0) continue;
      env[e.slice(0, i)] = e.slice(i + 1);
    }
    return env;
  }

  /** The environment a sandbox's processes get, as KEY=VALUE (berth exec uses it too). */
  envList(sb: SandboxRecord): string[] {
    return Object.entries(this.envOf(sb)).map(([k, v]) => `${k}=${v}`);
  }

  /** Link environment variables; the names module supplies them (see linkEnvFor). */
  linkEnv: (sb: SandboxRecord) => string[] = () => [];

  async writeFiles(sb: SandboxRecord): Promise<void> {
    const ctx = this.ctx;
    const dir = ctx.sandboxDir(sb.id);
    const m = sb.config.networkMode;
    const source = m.startsWith('container:') ? ctx.state.sandboxes[m.slice('container:'.length)] : undefined;
    if (source) {
      // Sharing a network namespace means sharing its names too, as in Docker.
      const sdir = ctx.sandboxDir(source.id);
      for (const f of ['hosts', 'resolv.conf', 'hostname']) writeFileSync(join(dir, f), readFileSync(join(sdir, f), 'utf8'));
      return;
    }
    const files = sandboxFiles(ctx.state, sb, ctx.host);
    // Three small files, synchronously (microseconds each; a thread-pool round trip costs more).
    writeFileSync(join(dir, 'hosts'), files.hosts);
    writeFileSync(join(dir, 'resolv.conf'), files.resolvConf);
    writeFileSync(join(dir, 'hostname'), files.hostname);
  }

  /** Kills the sandbox's processes: the main one and every other in its mount namespace. */
  private async killAll(sb: SandboxRecord, signal: NodeJS.Signals): Promise<void> {
    // Never berthd's own namespaces: that would be every process of the host.
    const own = await nsOf(process.pid, 'mnt');
    // The kernel reuses a namespace's inode number as soon as its last process is gone, so the
    // recorded mount namespace may by now be another sandbox's: trust it only while the main
    // process (checked by start time) is still in it. What is left otherwise joined the network
    // namespace too and is found below.
    // (An empty start time means the command had ended when berth first looked: not alive.)
    const mainAlive = sb.state.pid > 0 && sb.state.pidStartTime !== '' && (await isAlive(sb.state.pid, sb.state.pidStartTime));
    const mntNs = mainAlive && sb.state.mntNs && (await nsOf(sb.state.pid, 'mnt')) === sb.state.mntNs ? sb.state.mntNs : '';
    const targets = new Map<number, ProcessIdentity>();
    const add = (id: ProcessIdentity) => targets.set(id.pid, id);
    // Also whatever joined only its network namespace (nsenter --net), or when the mount
    // namespace is not known yet (berthd stopped before the shim reported). One pass over /proc
    // for both namespaces.
    let netNs = '';
    if (ownsNetns(sb)) {
      const ino = await stat(this.ctx.netnsPath(sb.id)).then((st) => st.ino).catch(() => 0);
      netNs = ino ? `net:[${ino}]` : '';
      if (netNs === (await nsOf(process.pid, 'net'))) netNs = '';
    }
    for (const p of await pidsInEitherNs(mntNs && mntNs !== own ? mntNs : '', netNs)) add(p);
    if (sb.state.pid) add({ pid: sb.state.pid, startTime: sb.state.pidStartTime });
    if (sb.state.shimPid) add({ pid: sb.state.shimPid, startTime: sb.state.shimStartTime ?? '' });
    // Each one's start time is checked again right before its signal (runtime/signal.ts).
    for (const id of targets.values()) signalProcess(id, signal);
  }

  /** The process ended: release its network and record how it ended. */
  async onExit(id: string, generation: number): Promise<void> {
    const ctx = this.ctx;
    const ended = await ctx.lock.run(async () => {
      const sb = ctx.state.sandboxes[id];
      if (!sb || sb.generation !== generation || sb.state.status !== 'running') return undefined;
      await this.releaseLocked(sb, undefined);
      return sb;
    });
    // releaseLocked told the waiters and did the --rm; a sandbox still here may be restarted.
    if (ended && ctx.state.sandboxes[id] === ended) this.applyRestartPolicy(ended);
  }

  /**
   * Docker's restart policies: always and unless-stopped restart after any exit, on-failure[:N]
   * after a non-zero one (at most N times); never after the user stopped, killed or removed it.
   * The delay doubles from 100 ms as Docker's does, up to a minute.
   */
  private applyRestartPolicy(sb: SandboxRecord): void {
    const policy = sb.config.docker?.restartPolicy;
    if (!policy || policy.name === 'no' || this.manuallyStopped.has(sb.id)) return;
    const count = sb.state.restartCount ?? 0;
    const code = sb.state.exitCode;
    const again = policy.name === 'always' || policy.name === 'unless-stopped' || (policy.name === 'on-failure' && code !== 0 && (policy.maximumRetryCount === 0 || count < policy.maximumRetryCount));
    if (!again) return;
    const delay = Math.min(100 * 2 ** Math.min(count, 10), 60_000);
    setTimeout(() => {
      const cur = this.ctx.state.sandboxes[sb.id];
      if (!cur || cur.state.status === 'running' || this.manuallyStopped.has(sb.id)) return;
      this.startByPolicy(sb.id, true).catch((e: Error) => this.ctx.log('warn', `restart of ${sb.name} by its policy failed: ${e.message}`));
    }, delay).unref();
  }

  /**
   * The running command's stdin (a pipe from berthd, for containers created with OpenStdin), at
   * once or when the container next starts; undefined when it has none.
   */
  stdinOf(id: string): Promise<Writable> | undefined {
    const sb = this.ctx.state.sandboxes[id];
    if (!sb?.config.docker?.openStdin) return undefined;
    const now = this.children.get(id)?.stdin;
    if (sb.state.status === 'running' && now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const list = this.stdinWaiters.get(id) ?? [];
      list.push(resolve);
      this.stdinWaiters.set(id, list);
    });
  }

  /**
   * A new size for the sandbox's terminal (docker resize): kept in its state directory, where
   * the relay reads it at start, and signalled to the running shim, which passes it on.
   */
  resize(id: string, rows: number, cols: number): void {
    const sb = this.ctx.state.sandboxes[id];
    if (!sb?.config.docker?.tty) return;
    writeSize(sandboxSizeFile(this.ctx.sandboxDir(id)), rows, cols);
    if (sb.state.status === 'running' && sb.state.shimPid) signalProcess({ pid: sb.state.shimPid, startTime: sb.state.shimStartTime ?? '' }, 'SIGWINCH');
  }

  /**
   * docker stop and kill count as a stop by the user for the restart policy. Recorded in the
   * store too: at berthd's next start an unless-stopped container stopped so stays stopped.
   */
  async markStoppedByUser(id: string): Promise<void> {
    this.manuallyStopped.add(id);
    await this.ctx.lock.run(async () => {
      const sb = this.ctx.state.sandboxes[id];
      if (!sb || sb.state.stoppedByUser) return;
      sb.state = { ...sb.state, stoppedByUser: true };
      await this.ctx.persist(sb);
    });
  }

  /**
   * At berthd's start, after reconcile, as dockerd does: a container with restart policy always,
   * or unless-stopped and not stopped by the user, that is not running is started again.
   * no and on-failure are left as they are. One container's failure does not stop the others.
   */
  async applyRestartPoliciesAtStart(): Promise<void> {
    for (const sb of Object.values(this.ctx.state.sandboxes)) {
      const policy = sb.config.docker?.restartPolicy?.name;
      if (sb.state.status === 'running') continue;
      if (policy !== 'always' && !(policy === 'unless-stopped' && !sb.state.stoppedByUser)) continue;
      await this.startByPolicy(sb.id, false).then(
        () => this.ctx.log('info', `sandbox ${sb.name} started at berthd start by its restart policy ${policy}`),
        (e: Error) => this.ctx.log('warn', `start of ${sb.name} by its restart policy failed: ${e.message}`),
      );
    }
  }

  /** Under the lock: stop what is left, tear the network down, mark exited. */
  async releaseLocked(sb: SandboxRecord, errorText: string | undefined, follow = true): Promise<void> {
    const ctx = this.ctx;
    const timer = new PhaseTimer();
    const codeText = await recordedExitCode(ctx.sandboxDir(sb.id), { pid: sb.state.pid, startTime: sb.state.pidStartTime }, { pid: sb.state.shimPid, startTime: sb.state.shimStartTime ?? '' });
    await this.killAll(sb, 'SIGKILL');
    timer.mark('kill');
    // runc removes its state itself when its container's init ends while it runs (see stop);
    // only a runc that was killed leaves it (and its cgroup) for `runc delete`.
    const runtimeState = join(ctx.cfg.execRoot, OCI_RUNTIME, sb.id);
    if (sb.config.image && (await stat(runtimeState).then(() => true, () => false))) await runOk([helperPath(OCI_RUNTIME), '--root', join(ctx.cfg.execRoot, OCI_RUNTIME), 'delete', '--force', sb.id]).catch(() => undefined);
    this.children.delete(sb.id);
    this.readiness.delete(sb.id);
    timer.mark('runtime delete');
    const wasEndpoints = sb.endpoints;
    sb.endpoints = {};
    sb.ports = [];
    sb.state = {
      ...sb.state,
      status: 'exited',
      pid: 0,
      shimPid: 0,
      finishedAt: new Date().toISOString(),
      exitCode: codeText.trim() ? Number(codeText.trim()) : 255,
      error: errorText ?? '',
    };
    // The namespace and the firewall/DNS elements go at once.
    const netnsGone = teardownNetwork(ctx, { ...sb, endpoints: wasEndpoints }).catch((e: Error) => ctx.log('error', `teardown of ${sb.name}: ${e.message}`));
    if (follow) await ctx.follow().catch((e: Error) => ctx.log('error', `firewall/DNS update after ${sb.name} exited: ${e.message}`));
    await netnsGone;
    timer.mark('links+firewall+dns');
    // A sandbox being removed (rm -f, --rm) loses its record right after: its exit is not
    // written first (a crash in between leaves the record saying running, which reconcile repairs).
    const goes = this.removing.has(sb.id) || (sb.config.autoRemove && !this.restarting.has(sb.id));
    if (goes) ctx.touch(sb);
    else await ctx.persist(sb);
    timer.mark('persist');
    ctx.log('debug', `release ${sb.name}: ${timer}`);
    ctx.log('info', `sandbox ${sb.name} exited with ${sb.state.exitCode}`);
    // Only now, with the exit recorded and persisted, do waiters (an attached `berth run`, docker
    // wait) and the Docker event stream hear of it.
    this.onEvent('die', sb, { exitCode: String(sb.state.exitCode) });
    this.settle(sb.id, 'exit', sb.state.exitCode);
    if (sb.config.autoRemove && !this.restarting.has(sb.id)) await this.removeLocked(sb);
  }

  /** Under the lock: forget the sandbox (its record and directory); waiters for 'removed' hear of it. */
  private async removeLocked(sb: SandboxRecord): Promise<void> {
    const ctx = this.ctx;
    if (ctx.state.sandboxes[sb.id] !== sb) return;
    delete ctx.state.sandboxes[sb.id];
    await ctx.persist(sb);
    // A handful of small files: removed synchronously (thread-pool round trips cost more). A
    // process of the sandbox that is still ending (the shim writing its exit code) can add a
    // file meanwhile (ENOTEMPTY): then retried, as rm allows (found by the fuzz suite).
    try {
      rmSync(ctx.sandboxDir(sb.id), { recursive: true, force: true });
    } catch {
      await rm(ctx.sandboxDir(sb.id), { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    }
    ctx.log('info', `sandbox ${sb.name} removed`);
    this.manuallyStopped.delete(sb.id);
    this.onEvent('destroy', sb);
    this.settle(sb.id, 'removed', sb.state.exitCode);
  }

  /** Resolves the waiters an event satisfies: an exit ends 'not-running' and 'next-exit', a removal all. */
  private settle(id: string, event: 'exit' | 'removed', exitCode: number): void {
    const list = this.waiters.get(id);
    if (!list) return;
    const done = list.filter((w) => event === 'removed' || w.condition !== 'removed');
    const left = list.filter((w) => !done.includes(w));
    if (left.length) this.waiters.set(id, left);
    else this.waiters.delete(id);
    for (const w of done) w.resolve(exitCode);
  }

  /** Waits (briefly) until a just-started sandbox's command PID is known. */
  async waitReady(id: string): Promise<void> {
    const p = this.readiness.get(id);
    if (!p) return;
    await Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]);
    // The record is updated under the lock right after; take the lock once to see it.
    await this.ctx.lock.run(async () => undefined);
  }

  /**
   * Resolves with the exit code once `condition` holds and what it depends on is recorded and
   * persisted: 'not-running' (now, if the sandbox is not running), 'next-exit' (the end of the
   * run after this call), 'removed' (the record is gone, --rm or rm). The waiter is registered
   * before this returns, so a caller may start the sandbox right after. `signal` withdraws it.
   */
  wait(id: string, condition: WaitCondition, signal?: AbortSignal): Promise<number> {
    const sb = this.ctx.state.sandboxes[id];
    if (!sb) return Promise.resolve(0);
    if (condition === 'not-running' && sb.state.status !== 'running') {
      // An exit being recorded holds the lock until it is persisted: take it once to be after it.
      return this.ctx.lock.run(async () => this.ctx.state.sandboxes[id]?.state.exitCode ?? sb.state.exitCode);
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { condition, resolve };
      this.waiters.set(id, [...(this.waiters.get(id) ?? []), w]);
      signal?.addEventListener('abort', () => {
        const list = (this.waiters.get(id) ?? []).filter((x) => x !== w);
        if (list.length) this.waiters.set(id, list);
        else this.waiters.delete(id);
        reject(new Error('the waiting client went away'));
      }, { once: true });
    });
  }

  waitExit(id: string): Promise<number> {
    return this.wait(id, 'not-running');
  }

  /** `removing`: rm -f, the record goes right after; the user's stop need not be persisted. */
  async stop(ref: string, timeoutSec = 10, removing = false): Promise<void> {
    const sb = this.ctx.sandbox(ref);
    if (removing) this.manuallyStopped.add(sb.id);
    else await this.markStoppedByUser(sb.id);
    if (sb.state.status !== 'running') return;
    const generation = sb.generation;
    const exited = this.waitExit(sb.id);
    // rm -f or stop -t 0 of a sandbox whose shim this berthd hears: the shim leads a process
    // group holding the command, so one SIGKILL to the group ends both without waiting for the
    // shim to report the command's PID (a just-started one may not have yet). Whatever left the
    // group is found when the exit is recorded (releaseLocked).
    if (timeoutSec === 0 && !sb.config.image && this.heard(sb.id) && signalGroup({ pid: sb.state.shimPid, startTime: sb.state.shimStartTime ?? '' }, 'SIGKILL')) {
      this.ctx.log('debug', `stop ${sb.name}: killed its process group; waiting for the exit`);
      await exited;
      return;
    }
    if (!sb.state.pid) await this.waitReady(sb.id);
    if (sb.state.pid) signalProcess({ pid: sb.state.pid, startTime: sb.state.pidStartTime }, 'SIGTERM');
    // An adopted sandbox (no child of this berthd) is watched alone, not at the poller's pace
    // over every sandbox: its exit is recorded within milliseconds.
    const watch = this.heard(sb.id) ? undefined : this.watchExit(sb, generation);
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), timeoutSec * 1000))]);
    if (timedOut) {
      // An image sandbox: its init's death ends its whole PID namespace, and runc, left running,
      // then removes its own state and cgroup, so release need not run `runc delete` (a Go
      // program's start: tens of ms on a busy machine). Everything is killed if runc has not
      // ended within 2 s. Any other sandbox: the command and its shim, enough for the exit to
      // come; whatever else is left of it is found and killed when the exit is recorded
      // (releaseLocked: one /proc pass, not two per `rm -f`).
      const initKilled = Boolean(sb.config.image && sb.state.pid && signalProcess({ pid: sb.state.pid, startTime: sb.state.pidStartTime }, 'SIGKILL'));
      if (initKilled) {
        if (await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 2000))])) await this.killAll(sb, 'SIGKILL');
      } else {
        for (const id of [{ pid: sb.state.pid, startTime: sb.state.pidStartTime }, { pid: sb.state.shimPid, startTime: sb.state.shimStartTime ?? '' }]) {
          if (id.pid > 0) signalProcess(id, 'SIGKILL');
        }
      }
      this.ctx.log('debug', `stop ${sb.name}: killed; waiting for the exit`);
      // A sandbox that never got a process (pid 0) has nothing to wait for: release it directly.
      await this.ctx.lock.run(async () => {
        const cur = this.ctx.state.sandboxes[sb.id];
        if (cur === sb && sb.generation === generation && sb.state.status === 'running' && !sb.state.pid) await this.releaseLocked(sb, undefined);
      });
      await exited;
    }
    if (watch) clearInterval(watch);
  }

  /** Checks one sandbox's command every few ms until it has ended, then records its exit. */
  private watchExit(sb: SandboxRecord, generation: number): NodeJS.Timeout {
    const timer: NodeJS.Timeout = setInterval(() => {
      if (sb.generation !== generation || sb.state.status !== 'running') return clearInterval(timer);
      if (!sb.state.pid || (sb.state.pidStartTime && isAliveSync(sb.state.pid, sb.state.pidStartTime))) return;
      clearInterval(timer);
      this.onExit(sb.id, generation).catch((e: Error) => this.ctx.log('error', `recording the exit of ${sb.name}: ${e.message}`));
    }, 5);
    return timer;
  }

  async restart(ref: string, timeoutSec = 10): Promise<void> {
    const sb = this.ctx.sandbox(ref);
    // Docker keeps a --rm container across a restart: its stop here is not its end.
    this.restarting.add(sb.id);
    try {
      await this.stop(sb.id, timeoutSec);
    } finally {
      this.restarting.delete(sb.id);
    }
    await this.start(sb.id);
  }

  async remove(ref: string, force: boolean): Promise<void> {
    const sb = this.ctx.sandbox(ref);
    const timer = new PhaseTimer();
    if (sb.state.status === 'running') {
      if (!force) throw new Conflict(`You cannot remove a running container ${sb.id}. Stop the container before attempting removal or force remove`);
      this.removing.add(sb.id);
      try {
        await this.stop(sb.id, 0, true);
      } finally {
        this.removing.delete(sb.id);
      }
      timer.mark('stop');
    }
    await this.ctx.lock.run(async () => {
      timer.mark('lock');
      const cur = this.ctx.state.sandboxes[sb.id];
      if (!cur) return; // removed by its --rm as it stopped
      if (cur.state.status === 'running') throw new Conflict(`sandbox ${cur.name} was started again while being removed`);
      await this.removeLocked(cur);
      timer.mark('remove');
    });
    this.ctx.log('debug', `rm ${sb.name}: ${timer}`);
  }

  /** Whether this berthd hears the end of the sandbox's shim by itself (else: adopted, polled). */
  private heard(id: string): boolean {
    return this.children.get(id)?.heard() ?? false;
  }

  /** Notices processes that ended while berthd was not their parent (after a restart). */
  startPolling(intervalMs = 250): void {
    this.poller = every('exit poll', intervalMs, () => this.poll(), this.ctx.log);
  }

  stopPolling(): void {
    this.poller?.stop();
  }

  /** Where the poller goes on among adopted sandboxes (a slice of them per tick). */
  private pollCursor = 0;

  private async poll(): Promise<void> {
    const running = Object.values(this.ctx.state.sandboxes).filter((sb) => sb.state.status === 'running');
    // A shim berthd started tells its end by itself (its exit status is only read here). An
    // adopted one (after a restart) is checked through /proc: at most ADOPTED_PER_TICK of them
    // per tick, in turn, so a thousand adopted sandboxes cost a few reads per tick, not a
    // thousand (a stop watches its own sandbox closely: see watchExit).
    const adopted = running.filter((sb) => !this.heard(sb.id));
    const start = adopted.length ? this.pollCursor % adopted.length : 0;
    const slice = adopted.length <= ADOPTED_PER_TICK ? adopted : [...adopted, ...adopted].slice(start, start + ADOPTED_PER_TICK);
    this.pollCursor = start + slice.length;
    for (const sb of [...running.filter((x) => this.heard(x.id)), ...slice]) {
      const child = this.heard(sb.id) ? this.children.get(sb.id) : undefined;
      try {
        // A shim berthd started: its own exit status says it all (and catches an exit whose
        // event was somehow missed). An adopted one: its command's PID and start time; an empty
        // start time means the command had already ended when berth looked.
        const ended = child
          ? child.ended()
          : sb.state.pid > 0 && (!sb.state.pidStartTime || !(await isAlive(sb.state.pid, sb.state.pidStartTime)));
        if (ended) await this.onExit(sb.id, sb.generation);
      } catch (err) {
        // One sandbox's trouble is logged; the others are still polled.
        this.ctx.log('error', `recording the exit of ${sb.name}: ${(err as Error).stack ?? String(err)}`);
      }
    }
  }

  /** Rewrites /etc/hosts etc. of running sandboxes (after links or host services change). */
  async refreshFiles(): Promise<void> {
    for (const sb of Object.values(this.ctx.state.sandboxes)) {
      if (sb.state.status === 'running') await this.writeFiles(sb).catch(() => undefined);
    }
  }

}
