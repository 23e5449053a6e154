// berth service create|ls|ps|inspect|scale|update|logs|rm: replicated services behind a VIP.
import { Command } from 'commander';
import type { Client } from '../client.js';
import { collect, jsonLines, table } from '../output.js';
import { healthFlagsToApi, parseDuration, type HealthFlags } from '../../model/healthcheck.js';
import { parseServicePortFlag } from '../../model/service-spec.js';
import { addHealthFlags, labelsOf } from '../health-flags.js';

interface ServiceJson {
  ID: string;
  Spec: {
    Name: string;
    Mode: { Replicated: { Replicas: number } };
    EndpointSpec: { Mode: string; Ports: Array<{ Protocol: string; TargetPort: number; PublishedPort?: number }> };
  };
  Endpoint: { VirtualIPs: Array<{ NetworkID: string; Addr: string }> };
  ServiceStatus: { RunningTasks: number; DesiredTasks: number };
}

interface TaskJson {
  ID: string;
  Name: string;
  NodeID: string;
  DesiredState: string;
  Status: { State: string; Timestamp: string; Err?: string; Health?: string };
  NetworksAttachments: Array<{ Network: { Spec: { Name: string } }; Addresses: string[] }>;
}

interface CreateOptions extends HealthFlags {
  name?: string;
  replicas: string;
  network: string[];
  endpointMode: string;
  publish: string[];
  env: string[];
  rootfs?: string;
  label: string[];
  networkAlias: string[];
  updateParallelism?: string;
  updateDelay?: string;
  constraint: string[];
}

function count(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`invalid ${flag} "${text}": give a whole number`);
  return Number(text);
}

const NS_PER_MS = 1_000_000;

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} seconds ago`;
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`;
  return `${Math.round(s / 3600)} hours ago`;
}

function portsText(s: ServiceJson): string {
  return s.Spec.EndpointSpec.Ports.map((p) => (p.PublishedPort ? `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol}` : `${p.TargetPort}/${p.Protocol}`)).join(', ');
}

export function serviceCommand(client: () => Client): Command {
  const svc = new Command('service').description('Manage services: replicas behind one name and virtual IP');

  svc.addCommand(
    addHealthFlags(new Command('create'))
      .description('Create a service running CMD in K replicas')
      .argument('<cmd...>', 'command and arguments (put them after --)')
      .option('--name <name>', 'service name')
      .option('--replicas <k>', 'number of replicas', '1')
      .option('--network <net>', 'network to attach (repeatable)', collect, [] as string[])
      .option('--endpoint-mode <mode>', 'vip (one virtual IP) or dnsrr (the name resolves to the replicas)', 'vip')
      .option('-p, --publish <spec>', 'PUBLISHED:TARGET[/udp], TARGET[/udp] or published=P,target=T[,mode=local] (repeatable)', collect, [] as string[])
      .option('--constraint <expr>', 'across hosts: node.name==NAME or node.name!=NAME (repeatable)', collect, [] as string[])
      .option('-e, --env <key=value>', 'environment variable (repeatable)', collect, [] as string[])
      .option('--rootfs <dir>', 'run replicas chrooted into DIR')
      .option('-l, --label <key=value>', 'service label (repeatable)', collect, [] as string[])
      .option('--network-alias <alias>', 'another name of the service on its networks (repeatable)', collect, [] as string[])
      .option('--update-parallelism <p>', 'replicas replaced at once by an update (default 1)')
      .option('--update-delay <duration>', 'wait between update batches (default 0s)')
      .addHelpText('after', '\nExample:\n  berth service create --name web --replicas 3 --network app -p 8080:80 --health-http 80/ --health-interval 2s -- busybox httpd -f -p 80')
      .action(async (rawCmd: string[], o: CreateOptions) => {
        const cmd = rawCmd[0] === '--' ? rawCmd.slice(1) : rawCmd;
        const health = healthFlagsToApi(o);
        const body = {
          Name: o.name ?? '',
          Labels: labelsOf(o.label),
          TaskTemplate: {
            ContainerSpec: { Command: cmd, Env: o.env, ...(o.rootfs ? { Rootfs: o.rootfs } : {}), ...(health ? { Healthcheck: health } : {}) },
            Networks: o.network.map((n) => ({ Target: n, Aliases: o.networkAlias })),
            ...(o.constraint.length ? { Placement: { Constraints: o.constraint } } : {}),
          },
          Mode: { Replicated: { Replicas: count(o.replicas, '--replicas') } },
          EndpointSpec: { Mode: o.endpointMode, Ports: o.publish.map(parseServicePortFlag) },
          UpdateConfig: {
            ...(o.updateParallelism !== undefined ? { Parallelism: count(o.updateParallelism, '--update-parallelism') } : {}),
            ...(o.updateDelay !== undefined ? { Delay: parseDuration(o.updateDelay, '--update-delay') * NS_PER_MS } : {}),
          },
        };
        if (body.TaskTemplate.Networks.length === 0 && o.networkAlias.length) throw new Error('--network-alias needs --network');
        const r = await client().call<{ ID: string }>('POST', '/services/create', body);
        process.stdout.write(`${r.ID}\n`);
      }),
  );

  svc.addCommand(
    new Command('ls')
      .description('List services')
      .option('-q, --quiet', 'only IDs')
      .option('--format <format>', '"json" for one JSON object per line')
      .action(async (o: { quiet?: boolean; format?: string }) => {
        const list = await client().call<ServiceJson[]>('GET', '/services');
        if (o.quiet) return void process.stdout.write(list.map((s) => s.ID.slice(0, 12) + '\n').join(''));
        const rows = list.map((s) => ({
          ID: s.ID.slice(0, 12),
          Name: s.Spec.Name,
          Mode: 'replicated',
          Replicas: `${s.ServiceStatus.RunningTasks}/${s.ServiceStatus.DesiredTasks}`,
          Ports: portsText(s),
          VIPs: s.Endpoint.VirtualIPs.map((v) => v.Addr).join(','),
        }));
        if (o.format === 'json') return void process.stdout.write(jsonLines(rows));
        process.stdout.write(table(['ID', 'NAME', 'MODE', 'REPLICAS', 'PORTS'], rows.map((r) => [r.ID, r.Name, r.Mode, r.Replicas, r.Ports])));
      }),
  );

  svc.addCommand(
    new Command('ps')
      .description("List a service's replicas (tasks)")
      .argument('<service>')
      .option('-q, --quiet', 'only IDs')
      .option('--format <format>', '"json" for one JSON object per line')
      .action(async (name: string, o: { quiet?: boolean; format?: string }) => {
        const tasks = await client().call<TaskJson[]>('GET', `/services/${encodeURIComponent(name)}/tasks`);
        if (o.quiet) return void process.stdout.write(tasks.map((t) => t.ID.slice(0, 12) + '\n').join(''));
        const rows = tasks.map((t) => {
          const state = t.Status.State.charAt(0).toUpperCase() + t.Status.State.slice(1);
          return {
            ID: t.ID.slice(0, 12),
            Name: t.Name,
            Node: t.NodeID,
            DesiredState: 'Running',
            CurrentState: `${state} ${ago(t.Status.Timestamp)}${t.Status.Health ? ` (${t.Status.Health})` : ''}`,
            Error: t.Status.Err ?? '',
            Addresses: t.NetworksAttachments.flatMap((a) => a.Addresses.map((x) => `${a.Network.Spec.Name}=${x}`)).join(','),
          };
        });
        if (o.format === 'json') return void process.stdout.write(jsonLines(rows));
        process.stdout.write(
          table(['ID', 'NAME', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR', 'ADDRESSES'], rows.map((r) => [r.ID, r.Name, r.Node, r.DesiredState, r.CurrentState, r.Error, r.Addresses])),
        );
      }),
  );

  svc.addCommand(
    new Command('inspect')
      .description('Show services in detail (JSON)')
      .argument('<service...>')
      .action(async (names: string[]) => {
        const c = client();
        const out = [];
        for (const n of names) out.push(await c.call('GET', `/services/${encodeURIComponent(n)}`));
        process.stdout.write(JSON.stringify(out, null, 4) + '\n');
      }),
  );

  svc.addCommand(
    new Command('scale')
      .description('Set the number of replicas: NAME=K ...')
      .argument('<name=replicas...>')
      .action(async (pairs: string[]) => {
        const c = client();
        for (const p of pairs) {
          const i = p.indexOf('=');
          if (i <= 0) throw new Error(`invalid scale specifier "${p}": expected NAME=REPLICAS`);
          await c.call('POST', `/services/${encodeURIComponent(p.slice(0, i))}/update`, { Replicas: count(p.slice(i + 1), 'replicas') });
          process.stdout.write(`${p.slice(0, i)} scaled to ${p.slice(i + 1)}\n`);
        }
      }),
  );

  svc.addCommand(
    new Command('update')
      .description('Change a service; a new environment rolls the replicas P at a time')
      .argument('<service>')
      .option('--replicas <k>', 'number of replicas')
      .option('-e, --env <key=value>', 'add or change an environment variable (repeatable)', collect, [] as string[])
      .option('--update-parallelism <p>', 'replicas replaced at once (0: all)')
      .option('--update-delay <duration>', 'wait between batches')
      .action(async (name: string, o: { replicas?: string; env: string[]; updateParallelism?: string; updateDelay?: string }) => {
        const body = {
          ...(o.replicas !== undefined ? { Replicas: count(o.replicas, '--replicas') } : {}),
          ...(o.env.length ? { EnvAdd: o.env } : {}),
          UpdateConfig: {
            ...(o.updateParallelism !== undefined ? { Parallelism: count(o.updateParallelism, '--update-parallelism') } : {}),
            ...(o.updateDelay !== undefined ? { Delay: parseDuration(o.updateDelay, '--update-delay') * NS_PER_MS } : {}),
          },
        };
        await client().call('POST', `/services/${encodeURIComponent(name)}/update`, body);
        process.stdout.write(`${name}\n`);
      }),
  );

  svc.addCommand(
    new Command('logs')
      .description("Print the output of a service's replicas")
      .argument('<service>')
      .action(async (name: string) => {
        await client().stream(`/services/${encodeURIComponent(name)}/logs`, process.stdout);
      }),
  );

  svc.addCommand(
    new Command('rm')
      .description('Remove services and their replicas')
      .argument('<service...>')
      .action(async (names: string[]) => {
        const c = client();
        for (const n of names) {
          await c.call('DELETE', `/services/${encodeURIComponent(n)}`);
          process.stdout.write(`${n}\n`);
        }
      }),
  );
  return svc;
}
