// berth ps, inspect, start, stop, restart, rm, logs, port
import { Command } from 'commander';
import { helperPath } from '../../kernel/binaries.js';
import type { Client } from '../client.js';
import { jsonLines, table } from '../output.js';
import { formatEach, formatList } from '../format.js';
import { execWithTty } from './attach.js';

interface Summary {
  Id: string;
  Image?: string;
  Labels?: Record<string, string> | null;
  Names: string[];
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Ports: Array<{ IP: string; PrivatePort: number; PublicPort: number; Type: string }>;
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}

function ago(sec: number): string {
  const s = Math.max(0, Math.round(Date.now() / 1000 - sec));
  if (s < 60) return `${s} seconds ago`;
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`;
  return `${Math.round(s / 3600)} hours ago`;
}

export function psCommand(client: () => Client): Command {
  return new Command('ps')
    .description('List sandboxes')
    .option('-a, --all', 'show all (default: running only)')
    .option('-q, --quiet', 'only IDs')
    .option('--format <format>', "Go template ({{.Names}}, table {{.ID}}\\t{{.Status}}) or json")
    .action(async (o: { all?: boolean; quiet?: boolean; format?: string }) => {
      const list = await client().call<Summary[]>('GET', `/containers/json${o.all ? '?all=1' : ''}`);
      if (o.quiet) return void process.stdout.write(list.map((s) => s.Id.slice(0, 12) + '\n').join(''));
      const ports = (s: Summary) => s.Ports.map((p) => `${p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`).join(', ');
      const nets = (s: Summary) => Object.keys(s.NetworkSettings.Networks).join(',');
      if (o.format === 'json') {
        return void process.stdout.write(
          jsonLines(list.map((s) => ({ ID: s.Id.slice(0, 12), Names: s.Names[0]!.slice(1), Command: s.Command, State: s.State, Status: s.Status, Ports: ports(s), Networks: nets(s) }))),
        );
      }
      if (o.format !== undefined && o.format !== 'table') {
        // Docker's `ps --format` fields.
        const rows = list.map((s) => ({
          ID: s.Id.slice(0, 12),
          Names: s.Names.map((n) => n.slice(1)).join(','),
          Image: s.Image ?? '',
          Command: JSON.stringify(s.Command),
          CreatedAt: new Date(s.Created * 1000).toISOString(),
          RunningFor: ago(s.Created),
          State: s.State,
          Status: s.Status,
          Ports: ports(s),
          Networks: nets(s),
          Labels: Object.entries(s.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
        }));
        const headers = { ID: 'SANDBOX ID', Names: 'NAMES', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', State: 'STATE', Status: 'STATUS', Ports: 'PORTS', Networks: 'NETWORKS', Labels: 'LABELS' };
        return void process.stdout.write(formatList(o.format, rows, headers));
      }
      process.stdout.write(
        table(
          ['SANDBOX ID', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NETWORKS', 'NAMES'],
          list.map((s) => [s.Id.slice(0, 12), JSON.stringify(s.Command.length > 20 ? s.Command.slice(0, 19) + '…' : s.Command), ago(s.Created), s.Status, ports(s), nets(s), s.Names[0]!.slice(1)]),
        ),
      );
    });
}

export function inspectCommand(client: () => Client, fail: (msg: string) => void): Command {
  return new Command('inspect')
    .description('Show sandboxes in detail (JSON, Docker shape)')
    .argument('<name...>')
    .option('-f, --format <template>', 'Go template, e.g. {{.State.Pid}} or {{json .NetworkSettings}}')
    .action(async (names: string[], o: { format?: string }) => {
      const out: unknown[] = [];
      for (const n of names) {
        try {
          out.push(await client().call('GET', `/containers/${encodeURIComponent(n)}/json`));
        } catch (e) {
          fail((e as Error).message);
        }
      }
      process.stdout.write(o.format === undefined ? JSON.stringify(out, null, 4) + '\n' : formatEach(o.format, out));
    });
}

function eachName(verb: string, description: string, path: (id: string, o: Record<string, unknown>) => [string, string], client: () => Client, fail: (m: string) => void, withTime = false): Command {
  const cmd = new Command(verb).description(description).argument('<name...>');
  if (withTime) cmd.option('-t, --time <seconds>', 'seconds to wait before killing', '10');
  if (verb === 'rm') cmd.option('-f, --force', 'stop it first if it runs');
  return cmd.action(async (names: string[], o: Record<string, unknown>) => {
    for (const n of names) {
      try {
        const [method, p] = path(encodeURIComponent(n), o);
        await client().call(method, p);
        process.stdout.write(`${n}\n`);
      } catch (e) {
        fail((e as Error).message);
      }
    }
  });
}

export function lifecycleCommands(client: () => Client, fail: (m: string) => void): Command[] {
  return [
    eachName('start', 'Start stopped sandboxes', (id) => ['POST', `/containers/${id}/start`], client, fail),
    eachName('stop', 'Stop sandboxes (SIGTERM, then SIGKILL after -t seconds)', (id, o) => ['POST', `/containers/${id}/stop?t=${String(o['time'])}`], client, fail, true),
    eachName('restart', 'Restart sandboxes', (id, o) => ['POST', `/containers/${id}/restart?t=${String(o['time'])}`], client, fail, true),
    eachName('rm', 'Remove sandboxes', (id, o) => ['DELETE', `/containers/${id}${o['force'] ? '?force=1' : ''}`], client, fail),
  ];
}

export function logsCommand(client: () => Client): Command {
  return new Command('logs')
    .description("Print a sandbox's output")
    .argument('<name>')
    .option('-f, --follow', 'keep printing until it stops')
    .action(async (name: string, o: { follow?: boolean }) => {
      await client().stream(`/containers/${encodeURIComponent(name)}/logs${o.follow ? '?follow=1' : ''}`, process.stdout);
    });
}

export function portCommand(client: () => Client): Command {
  return new Command('port')
    .description("List a sandbox's published ports, or the host address of one")
    .argument('<name>')
    .argument('[port]', 'PORT[/PROTO]')
    .action(async (name: string, port: string | undefined) => {
      const info = await client().call<{ NetworkSettings: { Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> } }>(
        'GET',
        `/containers/${encodeURIComponent(name)}/json`,
      );
      const ports = info.NetworkSettings.Ports;
      if (port) {
        const key = port.includes('/') ? port : `${port}/tcp`;
        const list = ports[key];
        if (!list?.length) throw new Error(`No public port '${key}' published for ${name}`);
        process.stdout.write(list.map((b) => `${b.HostIp}:${b.HostPort}\n`).join(''));
        return;
      }
      const lines: string[] = [];
      for (const [key, list] of Object.entries(ports)) for (const b of list ?? []) lines.push(`${key} -> ${b.HostIp}:${b.HostPort}`);
      process.stdout.write(lines.map((l) => l + '\n').join(''));
    });
}

export function rulesCommand(client: () => Client): Command {
  return new Command('rules')
    .description('Print the nftables ruleset berth installed')
    .action(async () => {
      process.stdout.write(await client().call<string>('GET', '/rules'));
    });
}

export function execCommand(client: () => Client): Command {
  return new Command('exec')
    .description("Run a command inside a running sandbox's namespaces")
    .argument('<name>')
    .argument('<cmd...>', 'command and arguments (put them after --)')
    .option('-e, --env <key=value>', 'environment variable (repeatable)', (v: string, a: string[]) => [...a, v], [] as string[])
    .option('-i, --interactive', 'attach stdin (without -t it is always passed on)')
    .option('-t, --tty', 'run the command on a terminal of its own, through berthd (resized with yours)')
    .option('--detach-keys <keys>', 'with -t: keys that detach (default ctrl-p,ctrl-q)')
    .action(async (name: string, rawCmd: string[], o: { env: string[]; interactive?: boolean; tty?: boolean; detachKeys?: string }) => {
      const cmd = rawCmd[0] === '--' ? rawCmd.slice(1) : rawCmd;
      if (o.tty) return execWithTty(client(), name, cmd, o);
      const t = await client().call<{ Pid: number; Rootfs: string; Env?: string[] }>('GET', `/containers/${encodeURIComponent(name)}/exec-target`);
      const { spawn } = await import('node:child_process');
      const argv = ['--target', String(t.Pid), '--net', '--mount', '--uts', ...(t.Rootfs ? ['--root', '--wd'] : []), '--', ...cmd];
      // The sandbox's own environment (PATH, HOSTNAME, link variables, -e of run), then exec's -e.
      const env: Record<string, string> = {};
      for (const kv of [...(t.Env ?? []), ...o.env]) {
        const i = kv.indexOf('=');
        if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
      }
      // nsenter is found through berth's own PATH, not the sandbox's (its PATH applies to CMD only).
      const child = spawn(helperPath('nsenter'), argv, { stdio: 'inherit', env });
      const code = await new Promise<number>((resolve) => {
        child.on('error', () => resolve(126));
        child.on('close', (c, sig) => resolve(c ?? (sig ? 128 + 9 : 1)));
      });
      process.exitCode = code;
    });
}
