// berth lb create|ls|inspect|route add|route rm|rm: HAProxy load balancers in front of services.
//
// Examples:
//   berth lb create front --network back -p 80:80 --route app.example=app --route api.example=api:8080 --stats /lbstats
//   berth lb create web --network back -p 8080:80 --default web --check http:/health --stats /lbstats --stats-auth admin:secret
//   berth lb ls
//   berth lb inspect front
//   berth lb route add front new.example=newsvc
//   berth lb route rm front new.example
//   berth lb rm front
import { Command } from 'commander';
import type { Client } from '../client.js';
import { collect, jsonLines, table } from '../output.js';

interface ServerJson {
  Name: string;
  Address: string;
  Status: string;
  CheckStatus: string;
  CheckCode: string;
  LastCheck: string;
  Sessions: number;
}

interface LbJson {
  Name: string;
  HAProxy: string;
  Front: string;
  Networks: string[];
  Ports: string[];
  Routes: Array<{ Host: string; Service: string; Port: number; Backend: string }>;
  Default: { Service: string; Port: number; Backend: string } | null;
  Check: string;
  Stats: { Path: string; Auth: boolean } | null;
  Backends: Array<{ Name: string; Service: string; Port: number; Servers: ServerJson[] }>;
  Problems: string[];
  Reloads: number;
  RuntimeChanges: number;
}

interface CreateOptions {
  network: string[];
  publish?: string;
  route: string[];
  default?: string;
  check?: string;
  stats?: string;
  statsAuth?: string;
  slots?: string;
  front?: string;
}

function routesText(l: LbJson): string {
  const r = l.Routes.map((x) => `${x.Host}->${x.Service}:${x.Port}`);
  if (l.Default) r.push(`*->${l.Default.Service}:${l.Default.Port}`);
  return r.join(', ');
}

function human(l: LbJson): string {
  const out: string[] = [];
  out.push(`Name:      ${l.Name}`);
  out.push(`HAProxy:   ${l.HAProxy}`);
  out.push(`Ports:     ${l.Ports.join(', ') || '(none published)'}`);
  out.push(`Front:     ${l.Front}`);
  out.push(`Networks:  ${l.Networks.join(', ')}`);
  out.push(`Check:     ${l.Check}`);
  out.push(`Stats:     ${l.Stats ? `${l.Stats.Path}${l.Stats.Auth ? ' (basic auth)' : ''}` : '(off)'}`);
  out.push(`Changes:   ${l.Reloads} reloads, ${l.RuntimeChanges} runtime API changes`);
  out.push('Routes:');
  for (const r of l.Routes) out.push(`  ${r.Host} -> ${r.Backend}`);
  out.push(`  (other hosts) -> ${l.Default ? l.Default.Backend : '404 page'}`);
  for (const p of l.Problems) out.push(`Problem:   ${p}`);
  for (const be of l.Backends) {
    out.push('');
    out.push(`Backend ${be.Name} (service ${be.Service}, port ${be.Port})`);
    out.push(
      table(
        ['SERVER', 'ADDRESS', 'STATUS', 'CHECK', 'LAST CHECK', 'SESSIONS'],
        be.Servers.map((s) => [s.Name, s.Address, s.Status, `${s.CheckStatus}${s.CheckCode ? ` ${s.CheckCode}` : ''}`, s.LastCheck, String(s.Sessions)]),
      ).trimEnd(),
    );
  }
  return `${out.join('\n')}\n`;
}

export function lbCommand(client: () => Client, fail: (msg: string) => void): Command {
  const lb = new Command('lb').description('Load balancers: HAProxy in front of services, routing by host name');

  lb.command('create')
    .description('Create a load balancer: HAProxy in a sandbox on the back-end networks, its port published through the front network')
    .argument('<name>')
    .option('--network <net>', 'back-end network (repeatable; may be internal)', collect, [] as string[])
    .option('-p, --publish <published:port>', 'host port and HAProxy port, e.g. 80:80')
    .option('--route <host=service[:port]>', 'requests for HOST go to SERVICE (repeatable)', collect, [] as string[])
    .option('--default <service[:port]>', 'where other hosts go (default: a 404 page)')
    .option('--check <http:PATH|tcp>', 'HAProxy health check of every server (default http:/)')
    .option('--stats <path>', "HAProxy's statistics page at PATH, e.g. /lbstats")
    .option('--stats-auth <user:pass>', 'basic auth for the statistics page')
    .option('--front <net>', 'network that publishes the port (default bridge)')
    .option('--slots <n>', 'back-end slots declared in haproxy.cfg: routes to up to N services change without a reload (default 32)')
    .addHelpText('after', '\nExamples:\n  berth lb create front --network back -p 80:80 --route app.example=app --route api.example=api --stats /lbstats\n  berth lb create web --network back -p 8080:80 --default web --check http:/health')
    .action(async (name: string, o: CreateOptions) => {
      if (!o.publish) throw new Error('give the published port: -p PUBLISHED:PORT, e.g. -p 80:80');
      await client().call('POST', '/lbs/create', {
        Name: name,
        Networks: o.network,
        Publish: o.publish,
        Routes: o.route,
        ...(o.default ? { Default: o.default } : {}),
        ...(o.check ? { Check: o.check } : {}),
        ...(o.stats ? { Stats: o.stats } : {}),
        ...(o.statsAuth ? { StatsAuth: o.statsAuth } : {}),
        ...(o.front ? { Front: o.front } : {}),
        ...(o.slots ? { Slots: o.slots } : {}),
      });
      process.stdout.write(`${name}\n`);
    });

  lb.command('ls')
    .description('List load balancers')
    .option('--format <format>', 'json for one JSON object per line')
    .action(async (o: { format?: string }) => {
      const all = await client().call<LbJson[]>('GET', '/lbs');
      if (o.format === 'json') return void process.stdout.write(jsonLines(all));
      process.stdout.write(table(['NAME', 'PORTS', 'ROUTES', 'NETWORKS', 'HAPROXY'], all.map((l) => [l.Name, l.Ports.join(', '), routesText(l), l.Networks.join(','), l.HAProxy])));
    });

  lb.command('inspect')
    .description('Every route, back-end and server with its HAProxy status and last check')
    .argument('<name...>')
    .option('--format <format>', 'json for the JSON document')
    .action(async (names: string[], o: { format?: string }) => {
      const out: LbJson[] = [];
      for (const n of names) {
        try {
          out.push(await client().call<LbJson>('GET', `/lbs/${encodeURIComponent(n)}`));
        } catch (err) {
          fail((err as Error).message);
        }
      }
      if (o.format === 'json') process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      else process.stdout.write(out.map(human).join('\n'));
    });

  const route = lb.command('route').description("Change a load balancer's host routes");
  route
    .command('add')
    .description('Route a host name to a service')
    .argument('<lb>')
    .argument('<host=service[:port]>')
    .action(async (name: string, spec: string) => {
      await client().call('POST', `/lbs/${encodeURIComponent(name)}/routes`, { Route: spec });
    });
  route
    .command('rm')
    .description('Remove the route of a host name')
    .argument('<lb>')
    .argument('<host>')
    .action(async (name: string, host: string) => {
      await client().call('DELETE', `/lbs/${encodeURIComponent(name)}/routes/${encodeURIComponent(host)}`);
    });

  lb.command('rm')
    .description('Remove load balancers and their HAProxy sandboxes')
    .argument('<name...>')
    .action(async (names: string[]) => {
      for (const n of names) {
        try {
          await client().call('DELETE', `/lbs/${encodeURIComponent(n)}`);
          process.stdout.write(`${n}\n`);
        } catch (err) {
          fail((err as Error).message);
        }
      }
    });
  return lb;
}
