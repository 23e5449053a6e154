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
import { commandName } from './command-name.js';
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

// The commands, in help order. Only the one named on the command line is built (building them all is
// a quarter of `berth ps`'s own start-up time); help, a typo or no command builds them all.
const COMMANDS: Array<[string, () => Command[]]> = [
  ['network', () => [networkCommand(client, fail)]],
  ['run', () => [runCommand(client).passThroughOptions()]],
  ['exec', () => [execCommand(client).passThroughOptions()]],
  ['attach', () => [attachCommand(client)]],
  ['ps', () => [psCommand(client)]],
  ['inspect', () => [inspectCommand(client, fail)]],
  ['start stop restart rm', () => lifecycleCommands(client, fail)],
  ['logs', () => [logsCommand(client)]],
  ['port', () => [portCommand(client)]],
  ['node', () => [nodeCommand(client)]],
  ['rules', () => [rulesCommand(client)]],
  ['host-service', () => [hostServiceCommand(client)]],
  ['template', () => [templateCommand(() => program.opts<{ host?: string }>().host)]],
  ['service', () => [serviceCommand(client)]],
  ['lb', () => [lbCommand(client, fail)]],
];

const argv = process.argv.slice(2);
const named = commandName(argv);
const wanted = COMMANDS.filter(([names]) => named === undefined || names.split(' ').includes(named));
for (const [, build] of wanted.length ? wanted : COMMANDS) for (const c of build()) program.addCommand(c);
for (const c of program.commands) c.exitOverride();
for (const c of program.commands) for (const sub of c.commands) sub.exitOverride();

dockerUsageErrors(program, argv);

async function main(): Promise<void> {
  const isRun = argv[0] === 'run';
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
