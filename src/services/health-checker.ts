// Runs the health checks of running sandboxes, one loop per sandbox start (so checks of one
// sandbox never overlap: the next probe is scheduled only after the previous one ended).
// Every result is recorded in the sandbox's state; a change of status (starting -> healthy ->
// unhealthy) goes through ctx.follow() at once, so the firewall (VIP maps), DNS and any other
// follower see it at the check that declares it, then it is persisted.
import type { Healthcheck, HealthResult } from '../model/healthcheck.js';
import { initialHealth, nextHealth, parseHttpTarget, parseTcpTarget } from '../model/healthcheck.js';
import type { SandboxRecord } from '../model/types.js';
import { commandProbe, httpProbe, inNamespaceProbeArgv, tcpProbe, type ProbeOutcome } from '../kernel/health-probe.js';
import type { Ctx } from '../daemon/context.js';
import { netnsOf } from '../daemon/sandbox-net.js';

export interface HealthHooks {
  /** The sandbox's environment for command checks (as berth exec gets it). */
  envOf(sb: SandboxRecord): string[];
  /** Called after a status change was followed (e.g. the service reconciler replaces an unhealthy replica). */
  onChange?(sb: SandboxRecord): void;
}

export class HealthChecker {
  /** sandbox id -> generation whose loop runs. */
  private readonly loops = new Map<string, number>();
  private scanner: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly hooks: HealthHooks,
  ) {}

  start(scanMs = 200): void {
    this.scanner = setInterval(() => this.scan(), scanMs);
    this.scanner.unref();
    this.scan();
  }

  stop(): void {
    this.stopped = true;
    if (this.scanner) clearInterval(this.scanner);
  }

  /** Starts a loop for every running sandbox with a check that has none. */
  scan(): void {
    for (const sb of Object.values(this.ctx.state.sandboxes)) {
      if (sb.state.status !== 'running' || !sb.config.healthcheck) continue;
      if (this.loops.get(sb.id) === sb.generation) continue;
      this.loops.set(sb.id, sb.generation);
      void this.loop(sb.id, sb.generation).finally(() => {
        if (this.loops.get(sb.id) === sb.generation) this.loops.delete(sb.id);
      });
    }
  }

  private current(id: string, generation: number): SandboxRecord | undefined {
    const sb = this.ctx.state.sandboxes[id];
    return !this.stopped && sb && sb.generation === generation && sb.state.status === 'running' && sb.config.healthcheck ? sb : undefined;
  }

  private async loop(id: string, generation: number): Promise<void> {
    for (;;) {
      const sb = this.current(id, generation);
      if (!sb) return;
      // Docker probes first after one interval, then every interval after the previous probe ended.
      await new Promise((r) => setTimeout(r, sb.config.healthcheck!.intervalMs));
      const now = this.current(id, generation);
      if (!now) return;
      const start = new Date();
      const outcome = await this.probe(now, now.config.healthcheck!);
      if (!outcome) continue; // not probe-able yet (no PID): try again next interval
      await this.record(id, generation, { start: start.toISOString(), end: new Date().toISOString(), exitCode: outcome.exitCode, output: outcome.output });
    }
  }

  /** The address berthd reaches the sandbox at (undefined: only from inside its namespace). */
  private addressOf(sb: SandboxRecord): string | undefined {
    const mode = sb.config.networkMode;
    if (mode === 'host') return '127.0.0.1';
    const owner = mode.startsWith('container:') ? this.ctx.state.sandboxes[mode.slice('container:'.length)] : sb;
    if (!owner) return undefined;
    for (const ep of Object.values(owner.endpoints)) {
      if (ep.ip && this.ctx.state.networks[ep.networkId]?.driver === 'bridge') return ep.ip;
    }
    return undefined;
  }

  private async probe(sb: SandboxRecord, h: Healthcheck): Promise<ProbeOutcome | undefined> {
    const [kind, ...args] = h.test;
    if (kind === 'TCP' || kind === 'HTTP') {
      const { port, path } = kind === 'TCP' ? { port: parseTcpTarget(args[0]!), path: '' } : parseHttpTarget(args[0]!);
      const addr = this.addressOf(sb);
      if (addr) return kind === 'TCP' ? tcpProbe(addr, port, h.timeoutMs) : httpProbe(addr, port, path, h.timeoutMs);
      const ns = netnsOf(this.ctx, sb);
      if (!ns) return undefined;
      return commandProbe(inNamespaceProbeArgv(ns, kind, port, path), {}, h.timeoutMs);
    }
    if (!sb.state.pid) return undefined;
    const cmd = kind === 'CMD-SHELL' ? ['/bin/sh', '-c', args[0]!] : args;
    // The same namespaces as `berth exec`.
    const argv = ['nsenter', '--target', String(sb.state.pid), '--net', '--mount', '--uts', ...(sb.config.rootfs ? ['--root', '--wd'] : []), '--', ...cmd];
    const env: Record<string, string> = {};
    for (const kv of this.hooks.envOf(sb)) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return commandProbe(argv, env, h.timeoutMs);
  }

  private async record(id: string, generation: number, result: HealthResult): Promise<void> {
    const ctx = this.ctx;
    let changed: SandboxRecord | undefined;
    await ctx.lock.run(async () => {
      const sb = this.current(id, generation);
      if (!sb) return;
      const prev = sb.state.health ?? initialHealth();
      const next = nextHealth(prev, sb.config.healthcheck!, result, Date.parse(sb.state.startedAt));
      sb.state = { ...sb.state, health: next };
      ctx.touch(sb); // the result is written with the next persist; a status change at once
      if (next.status === prev.status) return;
      // Firewall maps and DNS first: a replica leaves the rotation at the check that declares it.
      await ctx.follow().catch((e: Error) => ctx.log('error', `firewall/DNS update after health change of ${sb.name}: ${e.message}`));
      // Logged once the firewall and DNS follow it (tests take this line's time as the moment).
      ctx.log('info', `sandbox ${sb.name} is ${next.status} (failing streak ${next.failingStreak}); firewall and DNS updated`);
      await ctx.persist(sb);
      changed = sb;
    });
    if (changed) this.hooks.onChange?.(changed);
  }
}
