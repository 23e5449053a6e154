// berth: the command-line client. It talks only to berthd's API (BERTH_HOST or --host).
import { Command, CommanderError } from 'commander';
import { Client, socketPath } from './client.js';
import { networkCommand } from './commands/network.js';
import { runCommand } from './commands/run.js';
import { attachCommand } from './commands/attach.js';
import { hostServiceCommand } from './commands/host-service.js';
import { nodeCommand } from './commands/node.js';
import { templateCommand } from './commands/template.js';
import { serviceCommand } from './commands/service.js';
import { lbCommand } from './commands/lb.js';
import { dockerUsageErrors, FLAG_ERRORS } from './usage-errors.js';
import { execCommand, inspectCommand, lifecycleCommands, logsCommand, portCommand, psCommand, rulesCommand } from './commands/sandboxes.js';

const program = new Command('berth')
  .description('berth: container networking on the Linux kernel, Docker-style')
  .option('-H, --host <url>', 'berthd socket, e.g. unix:///run/berth/berth.sock (default $BERTH_HOST)')
  .enablePositionalOptions()
  .exitOverride()
  .showHelpAfterError(false);

const client = () => new Client(socketPath(program.opts<{ host?: string }>().host));
let failures = 0;
const fail = (msg: string) => {
  failures++;
  process.stderr.write(`Error: ${msg}\n`);
};

program.addCommand(networkCommand(client, fail));
program.addCommand(runCommand(client).passThroughOptions());
program.addCommand(execCommand(client).passThroughOptions());
program.addCommand(attachCommand(client));
program.addCommand(psCommand(client));
program.addCommand(inspectCommand(client, fail));
for (const c of lifecycleCommands(client, fail)) program.addCommand(c);
program.addCommand(logsCommand(client));
program.addCommand(portCommand(client));
program.addCommand(nodeCommand(client));
program.addCommand(rulesCommand(client));
program.addCommand(hostServiceCommand(client));
program.addCommand(templateCommand(() => program.opts<{ host?: string }>().host));
program.addCommand(serviceCommand(client));
program.addCommand(lbCommand(client, fail));
for (const c of program.commands) c.exitOverride();
for (const group of ['network', 'host-service', 'service', 'lb', 'node']) for (const c of program.commands.find((c) => c.name() === group)?.commands ?? []) c.exitOverride();

dockerUsageErrors(program, process.argv.slice(2));

async function main(): Promise<void> {
  const isRun = process.argv[2] === 'run';
  try {
    await program.parseAsync(process.argv);
    if (failures) process.exitCode = 1;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return;
      // Docker: a flag error is status 125, a wrong argument count 1; `run` fails with 125 before starting.
      process.exitCode = isRun || FLAG_ERRORS.has(err.code) ? 125 : err.exitCode || 1;
      return;
    }
    process.stderr.write(`Error: ${(err as Error).message}\n`);
    const own = (err as { exitCode?: unknown }).exitCode;
    process.exitCode = typeof own === 'number' ? own : isRun ? 125 : 1;
  }
}

void main();
