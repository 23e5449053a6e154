// berth host-service add|ls|rm: a service on the host's loopback, reachable from every sandbox
// at a link-local address under a name (scenario S21).
import { Command } from 'commander';
import type { Client } from '../client.js';

export function hostServiceCommand(client: () => Client): Command {
  const cmd = new Command('host-service').description('Make host services on 127.0.0.1 reachable from sandboxes at link-local addresses');
  cmd
    .command('add')
    .description('Add a host service: NAME=169.254.x.y:PORT->HOSTPORT')
    .argument('<spec>')
    .addHelpText('after', '\nExample:\n  berth host-service add consul.local=169.254.32.1:80->8500')
    .action(async (spec: string) => {
      await client().call('POST', '/host-services', { Spec: spec });
    });
  cmd
    .command('ls')
    .description('List host services')
    .action(async () => {
      const list = await client().call<string[]>('GET', '/host-services');
      process.stdout.write(list.map((s) => s + '\n').join(''));
    });
  cmd
    .command('rm')
    .description('Remove a host service added with add')
    .argument('<name>')
    .action(async (name: string) => {
      await client().call('DELETE', `/host-services/${encodeURIComponent(name)}`);
    });
  return cmd;
}
