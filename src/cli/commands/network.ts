// berth network create|ls|inspect|rm|connect|disconnect|prune
import { Command } from 'commander';
import type { Client } from '../client.js';
import { collect, jsonLines, keyValues, table } from '../output.js';
import { formatEach, formatList } from '../format.js';

interface NetworkJson {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  Created?: string;
  Labels?: Record<string, string> | null;
  IPAM: { Config: Array<{ Subnet?: string; Gateway?: string }> };
}

export function networkCommand(client: () => Client, fail: (msg: string) => void): Command {
  const net = new Command('network').description('Manage networks');

  net
    .command('create')
    .description('Create a network')
    .argument('<name>')
    .option('-d, --driver <driver>', 'bridge, p2p, or overlay (multi-host: berthd --cluster-store)', 'bridge')
    .option('--subnet <cidr>', 'subnet, e.g. 172.81.0.0/16')
    .option('--gateway <ip>', 'gateway address inside the subnet')
    .option('--ip-range <cidr>', 'allocate addresses from this sub-range')
    .option('--internal', 'no access to or from the outside')
    .option('--attachable', 'overlay: sandboxes may be connected to it (berth allows it always)')
    .option('-o, --opt <key=value>', 'driver option (repeatable)', collect, [] as string[])
    .option('--label <key=value>', 'label (repeatable)', collect, [] as string[])
    .addHelpText('after', '\nExamples:\n  berth network create my-net\n  berth network create --subnet 172.81.0.0/16 --gateway 172.81.0.1 my-net\n  berth network create -o com.docker.network.bridge.enable_icc=false noicc\n  berth network create -d p2p link1\n  berth network create -d overlay --subnet 10.0.9.0/24 ov1')
    .action(async (name: string, o: { driver: string; subnet?: string; gateway?: string; ipRange?: string; internal?: boolean; attachable?: boolean; opt: string[]; label: string[] }) => {
      const body = {
        Name: name,
        Driver: o.driver,
        Internal: Boolean(o.internal),
        ...(o.attachable ? { Attachable: true } : {}),
        IPAM: { Config: o.subnet || o.gateway || o.ipRange ? [{ Subnet: o.subnet, Gateway: o.gateway, IPRange: o.ipRange }] : [] },
        Options: keyValues(o.opt, '--opt'),
        Labels: keyValues(o.label, '--label'),
      };
      const res = await client().call<{ Id: string }>('POST', '/networks/create', body);
      process.stdout.write(`${res.Id}\n`);
    });

  net
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-q, --quiet', 'only IDs')
    .option('--format <format>', "Go template ({{.Name}}, table {{.ID}}\\t{{.Name}}) or json")
    .action(async (o: { quiet?: boolean; format?: string }) => {
      const nets = (await client().call<NetworkJson[]>('GET', '/networks')).sort((a, b) => a.Name.localeCompare(b.Name));
      if (o.quiet) return void process.stdout.write(nets.map((n) => n.Id.slice(0, 12) + '\n').join(''));
      if (o.format === 'json') {
        return void process.stdout.write(jsonLines(nets.map((n) => ({ ID: n.Id.slice(0, 12), Name: n.Name, Driver: n.Driver, Scope: n.Scope, Internal: n.Internal, Subnet: n.IPAM.Config[0]?.Subnet ?? '' }))));
      }
      if (o.format !== undefined && o.format !== 'table') {
        // Docker's `network ls --format` fields, and berth's Subnet.
        const rows = nets.map((n) => ({
          ID: n.Id.slice(0, 12),
          Name: n.Name,
          Driver: n.Driver,
          Scope: n.Scope,
          Internal: String(n.Internal),
          IPv6: 'false',
          Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
          CreatedAt: n.Created ?? '',
          Subnet: n.IPAM.Config[0]?.Subnet ?? '',
        }));
        const headers = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', Internal: 'INTERNAL', IPv6: 'IPV6', Labels: 'LABELS', CreatedAt: 'CREATED', Subnet: 'SUBNET' };
        return void process.stdout.write(formatList(o.format, rows, headers));
      }
      process.stdout.write(table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], nets.map((n) => [n.Id.slice(0, 12), n.Name, n.Driver, n.Scope])));
    });

  net
    .command('inspect')
    .description('Show networks in detail (JSON)')
    .argument('<name...>')
    .option('-f, --format <template>', 'Go template, e.g. {{range .IPAM.Config}}{{.Subnet}}{{end}}')
    .action(async (names: string[], o: { format?: string }) => {
      const out: unknown[] = [];
      for (const n of names) {
        try {
          out.push(await client().call('GET', `/networks/${encodeURIComponent(n)}`));
        } catch (e) {
          fail((e as Error).message);
        }
      }
      process.stdout.write(o.format === undefined ? JSON.stringify(out, null, 4) + '\n' : formatEach(o.format, out));
    });

  net
    .command('rm')
    .alias('remove')
    .description('Remove networks')
    .argument('<name...>')
    .action(async (names: string[]) => {
      for (const n of names) {
        try {
          await client().call('DELETE', `/networks/${encodeURIComponent(n)}`);
          process.stdout.write(`${n}\n`);
        } catch (e) {
          fail((e as Error).message);
        }
      }
    });

  net
    .command('connect')
    .description('Connect a sandbox to a network')
    .argument('<network>')
    .argument('<sandbox>')
    .option('--ip <ip>', 'IPv4 address (networks with a user subnet)')
    .option('--alias <alias>', 'network-scoped alias (repeatable)', collect, [] as string[])
    .action(async (network: string, sandbox: string, o: { ip?: string; alias: string[] }) => {
      await client().call('POST', `/networks/${encodeURIComponent(network)}/connect`, {
        Container: sandbox,
        EndpointConfig: { IPAMConfig: o.ip ? { IPv4Address: o.ip } : null, Aliases: o.alias },
      });
    });

  net
    .command('disconnect')
    .description('Disconnect a sandbox from a network')
    .argument('<network>')
    .argument('<sandbox>')
    .option('-f, --force', 'force')
    .action(async (network: string, sandbox: string, o: { force?: boolean }) => {
      await client().call('POST', `/networks/${encodeURIComponent(network)}/disconnect`, { Container: sandbox, Force: Boolean(o.force) });
    });

  net
    .command('prune')
    .description('Remove all unused networks')
    .option('-f, --force', 'do not prompt')
    .action(async (o: { force?: boolean }) => {
      if (!o.force) throw new Error('berth network prune removes every unused network: confirm with -f');
      const res = await client().call<{ NetworksDeleted: string[] }>('POST', '/networks/prune');
      if (res.NetworksDeleted.length) process.stdout.write(`Deleted Networks:\n${res.NetworksDeleted.join('\n')}\n`);
    });
  return net;
}
