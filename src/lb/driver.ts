// One HAProxy (master-worker, -W -S) and the configuration berthd wants it to have.
//
// apply(input) is the single entry point, idempotent: the same input twice does nothing. Calls
// are serialized (never two reloads, or a reload and a runtime change, at once); a call made
// while one runs replaces any call still waiting (only the latest input matters).
// - Servers or routes changed: runtime API, no reload. A new back-end takes a free slot of the
//   pool (slots.ts) and gets its servers, then its hosts enter hosts.map (add/set map); a route
//   removed leaves hosts.map first, then its slot's servers are drained and deleted and the slot
//   is free. The files (haproxy.cfg, hosts.map, slots.json) follow, with no reload.
// - Anything else (port, check, stats, default back-end, a full slot pool): a reload. The new file is validated with
//   `haproxy -c` first (a bad file is refused and the running HAProxy keeps its old one), the
//   servers' states are dumped to the server-state file, the master reloads, and apply waits
//   for the new worker to answer on the stats socket. The new file lists the current servers,
//   so the runtime state is the file's own after the reload.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { Internal } from '../model/errors.js';
import { run, type Runner } from '../kernel/exec.js';
import { Mutex } from '../daemon/mutex.js';
import { hostsMap, hostsMapFile, masterSocket, renderConfig, renderHostsMap, serverStateFile, slotsFile, slotsFor, statsSocket, type RenderInput } from './config.js';
import { MasterCli, RuntimeApi } from './runtime-api.js';
import { mapDelta, serverDelta, slotSets, structureKey, type ServerOp } from './server-delta.js';
import { EMPTY_SLOTS, slotName, slotsFromJson, slotsToJson, type SlotTable } from './slots.js';

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

/** Validates a configuration with `haproxy -c`; throws HAProxy's own message. */
export async function validateConfig(path: string, haproxyBin = 'haproxy', runner: Runner = run): Promise<void> {
  const r = await runner([haproxyBin, '-c', '-f', path], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Internal(`haproxy -c refused the configuration: ${(r.stderr || r.stdout).trim()}`);
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

/** hosts.map and slots.json, the files a reload or restart starts from along with haproxy.cfg. */
async function writeSideFiles(input: RenderInput, table: SlotTable): Promise<void> {
  await writeAtomic(hostsMapFile(input.runDir), renderHostsMap(input, table));
  await writeAtomic(slotsFile(input.runDir), slotsToJson(table));
}

/** Writes and validates the first configuration, before HAProxy starts. */
export async function writeInitialConfig(input: RenderInput, configPath: string, haproxyBin = 'haproxy', runner: Runner = run): Promise<void> {
  const table = slotsFor(input);
  const tmp = `${configPath}.new`;
  await writeSideFiles(input, table);
  await writeFile(tmp, renderConfig(input, table));
  await validateConfig(tmp, haproxyBin, runner);
  await rename(tmp, configPath);
}

export class HaproxyDriver {
  readonly api: RuntimeApi;
  readonly master: MasterCli;
  private readonly lock = new Mutex();
  private current: RenderInput | undefined;
  /** Slots of `current` (loaded from slots.json when berthd restarts). */
  private table: SlotTable | undefined;
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
    this.table = slotsFor(input);
  }

  /** The slot table HAProxy runs with: from memory, else from slots.json (none: empty). */
  async slots(): Promise<SlotTable> {
    if (!this.table) {
      this.table = await readFile(slotsFile(this.opts.runDir), 'utf8').then(slotsFromJson, () => EMPTY_SLOTS);
    }
    return this.table;
  }

  /** HAProxy's name of a back-end (its slot), undefined when it holds none. */
  slotOf(backend: string): string | undefined {
    const n = this.table?.of.get(backend);
    return n === undefined ? undefined : slotName(n);
  }

  /** The back-end a slot holds, undefined when free. */
  backendOf(slot: string): string | undefined {
    for (const [id, n] of this.table?.of ?? []) if (slotName(n) === slot) return id;
    return undefined;
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
    const before = await this.slots();
    const table = slotsFor(want, before);
    if (have && structureKey(have, before) === structureKey(want, table)) {
      const ops = serverDelta(slotSets(have, before), slotSets(want, table));
      const mapOps = mapDelta(hostsMap(have, before), hostsMap(want, table));
      if (ops.length === 0 && mapOps.length === 0) {
        this.current = want;
        this.table = table;
        return;
      }
      const file = hostsMapFile(want.runDir);
      try {
        // Capacity first (servers into new slots and existing ones), then the routes, then the
        // removals: a host is routed only to a slot that has its servers, and leaves the map
        // before its servers are drained.
        for (const op of ops.filter((o) => o.op !== 'remove')) await this.serverOp(want, op);
        for (const m of mapOps) {
          if (m.op === 'del') await this.api.delMap(file, m.host);
          else await this.api.setMap(file, m.host, m.backend, m.op === 'set');
          this.runtimeOps++;
          this.opts.log?.('debug', `lb ${want.lb}: runtime map ${m.op} ${m.host}${m.op === 'del' ? '' : ` -> ${m.backend}`}`);
        }
        for (const op of ops.filter((o) => o.op === 'remove')) await this.serverOp(want, op);
        this.current = want;
        this.table = table;
        // The files follow (no reload): a reload or a restarted HAProxy starts from them.
        await this.writeFiles(want, table);
        return;
      } catch (err) {
        // HAProxy's servers are now neither the old set nor the new one: a reload from the file
        // (which lists exactly the wanted servers) puts them right.
        this.opts.log?.('warn', `lb ${want.lb}: runtime change failed, reloading instead: ${(err as Error).message}`);
      }
    }
    await this.reload(want, table);
  }

  private async serverOp(want: RenderInput, op: ServerOp): Promise<void> {
    if (op.op === 'add') await this.api.addServer(op.backend, op.server);
    else if (op.op === 'addr') await this.api.setAddr(op.backend, op.server);
    else await this.api.removeServer(op.backend, op.name);
    this.runtimeOps++;
    this.opts.log?.('debug', `lb ${want.lb}: runtime ${op.op} ${op.backend}/${op.op === 'remove' ? op.name : op.server.name}`);
  }

  private async writeFiles(want: RenderInput, table: SlotTable): Promise<void> {
    await writeSideFiles(want, table);
    await writeAtomic(this.opts.configPath, renderConfig(want, table));
  }

  private async reload(want: RenderInput, table: SlotTable): Promise<void> {
    const bin = this.opts.haproxyBin ?? 'haproxy';
    const tmp = `${this.opts.configPath}.new`;
    await writeFile(tmp, renderConfig(want, table));
    // haproxy -c reads hosts.map: the new one goes in place first, the old one back if refused.
    await writeSideFiles(want, table);
    try {
      await validateConfig(tmp, bin, this.opts.runner);
    } catch (err) {
      if (this.current && this.table) await writeSideFiles(this.current, this.table).catch(() => undefined);
      throw err;
    }
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
    this.table = table;
    this.opts.log?.('info', `lb ${want.lb}: haproxy reloaded (${this.reloads})`);
  }
}
