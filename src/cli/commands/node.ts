// berth node ls: the hosts of the cluster (berthd --cluster-store), as `docker node ls`.
import { Command } from 'commander';
import type { Client } from '../client.js';
import { jsonLines, table } from '../output.js';

interface NodeJson {
  ID: string;
  Self: boolean;
  CreatedAt: string;
  Status: { State: string; Addr: string };
  Lease: { TTL: number; GrantedTTL: number };
}

function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

export function nodeCommand(client: () => Client): Command {
  const cmd = new Command('node').description('Hosts of the cluster (berthd --cluster-store)');
  cmd
    .command('ls')
    .alias('list')
    .description('List the hosts: name, address, state, lease')
    .option('--format <format>', '"json" for one JSON object per line')
    .action(async (o: { format?: string }) => {
      const nodes = await client().call<NodeJson[]>('GET', '/nodes');
      if (o.format === 'json') {
        return void process.stdout.write(
          jsonLines(nodes.map((n) => ({ Hostname: n.ID, Self: n.Self, Addr: n.Status.Addr, Status: n.Status.State, LeaseTTL: n.Lease.TTL, LeaseGrantedTTL: n.Lease.GrantedTTL, Joined: n.CreatedAt }))),
        );
      }
      process.stdout.write(
        table(
          ['HOSTNAME', 'ADDRESS', 'STATUS', 'LEASE', 'JOINED'],
          nodes.map((n) => [n.ID + (n.Self ? ' *' : ''), n.Status.Addr, n.Status.State, `${n.Lease.TTL}s of ${n.Lease.GrantedTTL}s`, `${age(n.CreatedAt)} ago`]),
        ),
      );
    });
  return cmd;
}
