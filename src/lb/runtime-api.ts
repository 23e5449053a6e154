// HAProxy's runtime API on its stats socket (level admin), and its master CLI. One command per
// connection: HAProxy answers and closes (non-interactive mode).
//
// Replica changes go through here, with no reload:
//   add:    add server BE/S IP:PORT check ...; enable health BE/S; set server BE/S state ready
//   remove: set server BE/S state drain; wait until scur is 0; state maint; del server BE/S
//   move:   set server BE/S addr IP port PORT
//   route:  add map FILE HOST BE (after its servers) / set map / del map FILE HOST (before the
//           servers are drained: no new request goes there, those in flight finish)
import { connect } from 'node:net';
import { Internal } from '../model/errors.js';
import { SERVER_KEYWORDS, type RenderServer } from './config.js';
import { parseStatCsv, type StatRow } from './stats-csv.js';

/** Sends one command to a unix socket and returns the whole answer. */
export function socketCommand(path: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let out = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Internal(`haproxy socket ${path}: no answer to "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    // Half-closed after the command, as socat does: the master CLI answers and closes only then.
    sock.on('connect', () => sock.end(`${command}\n`));
    sock.on('data', (d: string) => (out += d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new Internal(`haproxy socket ${path}: ${e.message}`));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Answers HAProxy gives to a command that did not do what was asked. */
const FAILURE = /^(Unknown command|Unknown map|No such|Permission denied|Require |Invalid|Only servers|Server still|Backend must|Already exists|Error|Can't|Cannot|Failed to|.*not found)\b/i;

export class RuntimeApi {
  constructor(
    readonly socketPath: string,
    private readonly send: (path: string, cmd: string) => Promise<string> = socketCommand,
  ) {}

  /** Runs a command; throws with HAProxy's own words when it refused. */
  async cmd(command: string): Promise<string> {
    const out = await this.send(this.socketPath, command);
    // Reads answer data; a write command answers nothing or one sentence, which may be a refusal.
    const text = out.trim();
    if (!command.startsWith('show ') && FAILURE.test(text)) throw new Internal(`haproxy: ${command}: ${text}`);
    if (command.startsWith('show ') && /^Unknown command/.test(text)) throw new Internal(`haproxy: ${command}: ${text}`);
    return out;
  }

  async stats(): Promise<StatRow[]> {
    return parseStatCsv(await this.cmd('show stat'));
  }

  async serversState(): Promise<string> {
    return this.cmd('show servers state');
  }

  /** Adds a server and brings it into rotation (its HAProxy check decides when it is UP). */
  async addServer(backend: string, s: RenderServer): Promise<void> {
    await this.cmd(`add server ${backend}/${s.name} ${s.ip}:${s.port} ${SERVER_KEYWORDS.join(' ')}`);
    await this.cmd(`enable health ${backend}/${s.name}`);
    await this.cmd(`set server ${backend}/${s.name} state ready`);
  }

  /** Points HOST at BACKEND in a map file (one entry: `add map` would add a second one). */
  async setMap(file: string, host: string, backend: string, exists: boolean): Promise<void> {
    await this.cmd(`${exists ? 'set' : 'add'} map ${file} ${host} ${backend}`);
  }

  /** Deletes HOST from a map file; already gone is fine. */
  async delMap(file: string, host: string): Promise<void> {
    try {
      await this.cmd(`del map ${file} ${host}`);
    } catch (err) {
      if (!/Key not found/i.test((err as Error).message)) throw err;
    }
  }

  async setAddr(backend: string, s: RenderServer): Promise<void> {
    await this.cmd(`set server ${backend}/${s.name} addr ${s.ip} port ${s.port}`);
  }

  /**
   * Drains a server (no new requests; those in flight finish), waits for its sessions to end
   * (at most drainMs), then deletes it. HAProxy refuses to delete a server that still holds
   * connections (idle ones included): retried until it lets go.
   */
  async removeServer(backend: string, name: string, drainMs = 10_000): Promise<void> {
    await this.cmd(`set server ${backend}/${name} state drain`);
    const deadline = Date.now() + drainMs;
    for (;;) {
      const row = (await this.stats()).find((r) => r.pxname === backend && r.svname === name);
      if (!row || row.scur === 0 || Date.now() > deadline) break;
      await sleep(50);
    }
    await this.cmd(`set server ${backend}/${name} state maint`);
    for (let i = 0; ; i++) {
      try {
        await this.cmd(`del server ${backend}/${name}`);
        return;
      } catch (err) {
        if (i >= 40 || !/still has connections|Only servers in maintenance/i.test((err as Error).message)) throw err;
        await sleep(50);
      }
    }
  }
}

/** The master CLI (-S): reload and the list of processes. */
export class MasterCli {
  constructor(
    readonly socketPath: string,
    private readonly send: (path: string, cmd: string) => Promise<string> = socketCommand,
  ) {}

  async showProc(): Promise<ProcInfo> {
    return parseShowProc(await this.send(this.socketPath, 'show proc'));
  }

  /** Asks the master to reload (it re-executes itself with the new file; in 2.6 it answers nothing). */
  async reload(): Promise<void> {
    await this.send(this.socketPath, 'reload');
  }
}

export interface ProcInfo {
  reloads: number;
  failed: number;
  /** PIDs of the current workers (not the old ones still finishing their connections). */
  workers: number[];
}

/**
 * `show proc` of HAProxy 2.6:
 *   #<PID>          <type>          <reloads>       <uptime>        <version>
 *   1234            master          2 [failed: 0]   0d00h01m02s     2.6.12-1
 *   # workers
 *   5678            worker          0               0d00h00m03s     2.6.12-1
 *   # old workers
 *   4321            worker          1               0d00h01m02s     2.6.12-1
 */
export function parseShowProc(text: string): ProcInfo {
  let section = 'master';
  const info: ProcInfo = { reloads: 0, failed: 0, workers: [] };
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l === '# workers') section = 'workers';
    else if (l.startsWith('# old workers') || l.startsWith('# programs')) section = 'other';
    if (!l || l.startsWith('#')) continue;
    const f = l.split(/\s+/);
    if (f[1] === 'master') {
      info.reloads = Number(f[2]) || 0;
      info.failed = Number(/\[failed: (\d+)\]/.exec(l)?.[1] ?? 0);
    } else if (section === 'workers' && f[1] === 'worker') {
      info.workers.push(Number(f[0]));
    }
  }
  return info;
}
