// berth run: create a sandbox and start it; without -d, stream its output and exit with its code.
import { Command } from 'commander';
import { parsePortSpec } from '../../model/port-spec.js';
import { parseExpose } from '../../model/port-spec.js';
import { parseExtraHost } from '../../model/extra-hosts.js';
import type { Client } from '../client.js';
import { collect } from '../output.js';
import { healthFlagsToApi, type HealthFlags } from '../../model/healthcheck.js';
import { addHealthFlags, labelsOf } from '../health-flags.js';
import { checkTty, consoleSize, relaySession } from '../terminal.js';
import { DEFAULT_DETACH_KEYS } from '../../daemon/docker/detach-keys.js';

export interface RunOptions extends HealthFlags {
  label: string[];
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  detachKeys?: string;
  rm?: boolean;
  name?: string;
  network: string[];
  ip?: string;
  networkAlias: string[];
  hostname?: string;
  env: string[];
  rootfs?: string;
  publish: string[];
  publishAll?: boolean;
  expose: string[];
  link: string[];
  addHost: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOption: string[];
}

/** The create body in Docker's shape, from run's flags. */
export function createBody(cmd: string[], o: RunOptions): Record<string, unknown> {
  const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const spec of o.publish) {
    const r = parsePortSpec(spec);
    const key = `${r.containerPortStart === r.containerPortEnd ? r.containerPortStart : `${r.containerPortStart}-${r.containerPortEnd}`}/${r.proto}`;
    const hostPort = r.hostPortStart === 0 ? '' : r.hostPortStart === r.hostPortEnd ? String(r.hostPortStart) : `${r.hostPortStart}-${r.hostPortEnd}`;
    (portBindings[key] ??= []).push({ HostIp: r.hostIp, HostPort: hostPort });
  }
  const exposed: Record<string, object> = {};
  for (const e of o.expose.flatMap(parseExpose)) exposed[`${e.port}/${e.proto}`] = {};
  for (const h of o.addHost) parseExtraHost(h);
  const [first, ...rest] = o.network.length ? o.network : ['bridge'];
  const endpoints: Record<string, unknown> = {};
  endpoints[first!] = { IPAMConfig: o.ip ? { IPv4Address: o.ip } : null, Aliases: o.networkAlias };
  for (const n of rest) endpoints[n] = { IPAMConfig: null, Aliases: [] };
  const healthcheck = healthFlagsToApi(o);
  return {
    Cmd: cmd,
    Env: o.env,
    Tty: Boolean(o.tty),
    OpenStdin: Boolean(o.interactive),
    AttachStdin: Boolean(o.interactive && !o.detach),
    StdinOnce: Boolean(o.interactive && !o.detach),
    Labels: labelsOf(o.label ?? []),
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
    Hostname: o.hostname ?? '',
    ExposedPorts: exposed,
    Rootfs: o.rootfs ?? '',
    HostConfig: {
      NetworkMode: first,
      PortBindings: portBindings,
      PublishAllPorts: Boolean(o.publishAll),
      Links: o.link,
      ExtraHosts: o.addHost,
      Dns: o.dns,
      DnsSearch: o.dnsSearch,
      DnsOptions: o.dnsOption,
      AutoRemove: Boolean(o.rm),
      ConsoleSize: o.tty ? consoleSize() : null,
    },
    NetworkingConfig: { EndpointsConfig: endpoints },
  };
}

export function runCommand(client: () => Client): Command {
  return addHealthFlags(new Command('run'))
    .description('Create and start a sandbox running CMD')
    .argument('<cmd...>', 'command and arguments (put them after --)')
    .option('-d, --detach', 'run in the background and print the sandbox ID')
    .option('-i, --interactive', 'keep stdin open and attach it')
    .option('-t, --tty', 'give the command a terminal (with -i: yours, resized with it)')
    .option('--detach-keys <keys>', 'keys that detach from the terminal (default ctrl-p,ctrl-q)')
    .option('--rm', 'remove the sandbox when it exits')
    .option('--name <name>', 'name of the sandbox')
    .option('--network <net>', 'network: a name, bridge, host, none or container:NAME (repeatable)', collect, [] as string[])
    .option('--ip <ip>', 'IPv4 address on the first network (needs a user subnet)')
    .option('--network-alias <alias>', 'DNS alias on the first network (repeatable)', collect, [] as string[])
    .option('-h, --hostname <name>', 'hostname inside the sandbox')
    .option('-e, --env <key=value>', 'environment variable (repeatable)', collect, [] as string[])
    .option('--rootfs <dir>', 'run chrooted into DIR instead of the host filesystem')
    .option('-p, --publish <spec>', '[IP:][HOSTPORT:]PORT[/udp] (repeatable)', collect, [] as string[])
    .option('-P, --publish-all', 'publish every exposed port on a free host port')
    .option('--expose <port>', 'expose PORT[/udp] (repeatable)', collect, [] as string[])
    .option('--link <name[:alias]>', 'link to another sandbox (repeatable)', collect, [] as string[])
    .option('--add-host <host:ip>', 'add a line to /etc/hosts; ip may be host-gateway (repeatable)', collect, [] as string[])
    .option('--dns <ip>', 'DNS server (repeatable)', collect, [] as string[])
    .option('--dns-search <domain>', 'DNS search domain (repeatable)', collect, [] as string[])
    .option('--dns-option <opt>', 'resolv.conf option (repeatable)', collect, [] as string[])
    .option('-l, --label <key=value>', 'label (repeatable)', collect, [] as string[])
    .addHelpText('after', '\nExamples:\n  berth run -d --name web --network my-net -p 8080:80 -- busybox httpd -f -p 80\n  berth run --rm --network my-net -- busybox wget -qO- http://web/\n  berth run -d --name api --network my-net --health-http 80/ --health-interval 2s -- busybox httpd -f -p 80')
    .action(async (rawCmd: string[], o: RunOptions) => {
      const cmd = rawCmd[0] === '--' ? rawCmd.slice(1) : rawCmd;
      if (!o.detach) checkTty(o);
      const c = client();
      const body = createBody(cmd, o);
      const query = o.name ? `?name=${encodeURIComponent(o.name)}` : '';
      const created = await c.call<{ Id: string; Warnings: string[] }>('POST', `/containers/create${query}`, body);
      for (const w of created.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
      // As `docker run` does: wait is registered before start, so the exit cannot be missed, and it
      // answers only once berthd has recorded (and, with --rm, removed) the sandbox: when run
      // returns, every later command sees the sandbox exited or gone. --rm itself is berthd's
      // job (HostConfig.AutoRemove), so it holds when this process dies.
      // The output is attached before start too, so none is lost, even when --rm removes the log.
      const waiter = o.detach ? undefined : await c.pending('POST', `/containers/${created.Id}/wait?condition=${o.rm ? 'removed' : 'next-exit'}`);
      const result = waiter ? c.read<{ StatusCode?: number }>(waiter.res) : undefined;
      result?.catch(() => undefined);
      // With -i or -t the output comes over a hijacked connection that also takes our input.
      const session = !o.detach && (o.interactive || o.tty);
      const hijacked = session ? await c.upgrade('POST', `/containers/${created.Id}/attach?stream=1${o.interactive ? '&stdin=1' : ''}`) : undefined;
      const output = o.detach || session ? undefined : await c.pending('POST', `/containers/${created.Id}/attach?stream=1`);
      try {
        await c.call('POST', `/containers/${created.Id}/start`);
      } catch (err) {
        waiter?.cancel();
        output?.cancel();
        hijacked?.sock.destroy();
        throw err;
      }
      if (!result) {
        process.stdout.write(`${created.Id}\n`);
        return;
      }
      if (hijacked) {
        const how = await relaySession(hijacked.sock, hijacked.head, {
          tty: Boolean(o.tty),
          stdin: Boolean(o.interactive),
          detachKeys: o.detachKeys ?? DEFAULT_DETACH_KEYS,
          resize: (h, w) => c.call('POST', `/containers/${created.Id}/resize?h=${h}&w=${w}`),
        });
        // Detached: the sandbox runs on; as `docker run -it`, say nothing and succeed.
        if (how === 'detached') {
          waiter?.cancel();
          return;
        }
      } else if (output) {
        for await (const chunk of output.res) process.stdout.write(chunk as Buffer);
      }
      const res = await result;
      if (typeof res?.StatusCode !== 'number') throw new Error('berthd ended the wait without an exit code');
      process.exitCode = res.StatusCode;
    });
}
