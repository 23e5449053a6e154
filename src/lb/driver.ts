// One HAProxy (master-worker, -W -S) and the configuration berthd wants it to have.
//
// apply(input) is the single entry point, idempotent: the same input twice does nothing. Calls
// are serialized (never two reloads, or a reload and a runtime change, at once); a call made
// while one runs replaces any call still waiting (only the latest input matters).
// - Only servers changed: runtime API (add / drain and delete / re-address), no reload.
// - Anything else (routes, back-ends, check, stats): a reload. The new file is validated with
//   `haproxy -c` first (a bad file is refused and the running HAProxy keeps its old one), the
//   servers' states are dumped to the server-state file, the master reloads, and apply waits
//   for the new worker to answer on the stats socket. The new file lists the current servers,
//   so the runtime state is the file's own after the reload.
import { rename, writeFile } from 'node:fs/promises';
import { Internal } from '../model/errors.js';
import { run, type Runner } from '../kernel/exec.js';
import { Mutex } from '../daemon/mutex.js';
import { masterSocket, renderConfig, serverStateFile, statsSocket, type RenderInput } from './config.js';
import { MasterCli, RuntimeApi } from './runtime-api.js';
import { serverDelta, serverSets, structureKey } from './server-delta.js';

export interface DriverOptions {
  /** Path of the haproxy.cfg HAProxy was started with. */
  configPath: string;
  runDir: string;
  haproxyBin?: string;
  runner?: Runner;
  log?: (level: 'info' | 'warn' | 'debug', msg: string) => void;
  /** How long to wait for a new worker after a reload. */
  reloadTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const structureOf = (i: RenderInput) => {
  const { backends, ...rest } = i;
  return structureKey(backends, rest);
};

/** Validates a configuration with `haproxy -c`; throws HAProxy's own message. */
export async function validateConfig(path: string, haproxyBin = 'haproxy', runner: Runner = run): Promise<void> {
  const r = await runner([haproxyBin, '-c', '-f', path], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Internal(`haproxy -c refused the configuration: ${(r.stderr || r.stdout).trim()}`);
}

/** Writes and validates the first configuration, before HAProxy starts. */
export async function writeInitialConfig(input: RenderInput, configPath: string, haproxyBin = 'haproxy', runner: Runner = run): Promise<void> {
  const tmp = `${configPath}.new`;
  await writeFile(tmp, renderConfig(input));
  await validateConfig(tmp, haproxyBin, runner);
  await rename(tmp, configPath);
}

export class HaproxyDriver {
  readonly api: RuntimeApi;
  readonly master: MasterCli;
  private readonly lock = new Mutex();
  private current: RenderInput | undefined;
  private pending: RenderInput | undefined;
  reloads = 0;
  runtimeOps = 0;

  constructor(private readonly opts: DriverOptions) {
    this.api = new RuntimeApi(statsSocket(opts.runDir));
    this.master = new MasterCli(masterSocket(opts.runDir));
  }

  /** What HAProxy was last brought to (undefined before the first apply). */
  get applied(): RenderInput | undefined {
    return this.current;
  }

  /** The input HAProxy was started with (written by writeInitialConfig). */
  started(input: RenderInput): void {
    this.current = input;
  }

  async apply(input: RenderInput): Promise<void> {
    this.pending = input;
    await this.lock.run(async () => {
      const want = this.pending;
      if (!want) return; // a later call already applied the latest input
      this.pending = undefined;
      await this.applyNow(want);
    });
  }

  private async applyNow(want: RenderInput): Promise<void> {
    const have = this.current;
    if (have && structureOf(have) === structureOf(want)) {
      const ops = serverDelta(serverSets(have.backends), serverSets(want.backends));
      if (ops.length === 0) return;
      try {
        for (const op of ops) {
          if (op.op === 'add') await this.api.addServer(op.backend, op.server);
          else if (op.op === 'addr') await this.api.setAddr(op.backend, op.server);
          else await this.api.removeServer(op.backend, op.name);
          this.runtimeOps++;
          this.opts.log?.('debug', `lb ${want.lb}: runtime ${op.op} ${op.backend}/${op.op === 'remove' ? op.name : op.server.name}`);
        }
        this.current = want;
        // The file follows (no reload): a restarted HAProxy starts with the current servers.
        await this.writeFile(want);
        return;
      } catch (err) {
        // HAProxy's servers are now neither the old set nor the new one: a reload from the file
        // (which lists exactly the wanted servers) puts them right.
        this.opts.log?.('warn', `lb ${want.lb}: runtime change failed, reloading instead: ${(err as Error).message}`);
      }
    }
    await this.reload(want);
  }

  private async writeFile(want: RenderInput): Promise<void> {
    const tmp = `${this.opts.configPath}.new`;
    await writeFile(tmp, renderConfig(want));
    await rename(tmp, this.opts.configPath);
  }

  private async reload(want: RenderInput): Promise<void> {
    const bin = this.opts.haproxyBin ?? 'haproxy';
    const tmp = `${this.opts.configPath}.new`;
    await writeFile(tmp, renderConfig(want));
    await validateConfig(tmp, bin, this.opts.runner);
    // Servers' states (UP/DOWN, drain) carried into the new worker.
    const state = await this.api.serversState().catch(() => '');
    if (state) await writeFile(serverStateFile(this.opts.runDir), state);
    const before = await this.master.showProc();
    await rename(tmp, this.opts.configPath);
    await this.master.reload();
    const deadline = Date.now() + (this.opts.reloadTimeoutMs ?? 15_000);
    for (;;) {
      const now = await this.master.showProc().catch(() => undefined);
      if (now && now.failed > before.failed) throw new Internal('haproxy reload failed: the old worker keeps serving');
      const worker = now && now.reloads > before.reloads ? now.workers[0] : undefined;
      if (worker) {
        const info = await this.api.cmd('show info').catch(() => '');
        if (new RegExp(`^Pid: ${worker}$`, 'm').test(info)) break;
      }
      if (Date.now() > deadline) throw new Internal('haproxy reload: no new worker answered within the timeout');
      await sleep(50);
    }
    this.reloads++;
    this.current = want;
    this.opts.log?.('info', `lb ${want.lb}: haproxy reloaded (${this.reloads})`);
  }
}
